package gguf

import (
	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/quant"
)

// ggmlDType is the compute/quant format of a quantized GGML type.
func ggmlDType(t Type) compute.DType {
	if t == Q8_0 {
		return compute.Q8_0
	}
	return compute.Q4_0
}

// quantize stores a [rows, cols] matrix (cols a multiple of 32) as Q8_0 or
// Q4_0, byte for byte as llama.cpp's quantize_row_*_ref.
func quantize(t Type, src []float32, rows, cols int) []byte {
	return quant.Quantize(ggmlDType(t), src, rows, cols)
}

// dequantize decodes a Q8_0 or Q4_0 payload of a [rows, cols] matrix.
func dequantize(t Type, dst []float32, src []byte, rows, cols int) error {
	return quant.Dequantize(ggmlDType(t), dst, src, rows, cols)
}
