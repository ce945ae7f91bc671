package gguf

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/fynetune/fynetune/internal/hugepage"
	"github.com/fynetune/fynetune/model/safetensors"
)

// Encode converts the float32 values of a row-major [rows, cols] matrix to
// type t (F32, F16, BF16, Q8_0 or Q4_0). Quantized types need cols to be a
// multiple of 32.
func Encode(t Type, src []float32, rows, cols int) ([]byte, error) {
	if rows < 0 || cols < 0 || rows*cols != len(src) {
		return nil, fmt.Errorf("encode %s: %d values for a [%d, %d] matrix", t, len(src), rows, cols)
	}
	switch t {
	case F32:
		b := make([]byte, 4*len(src))
		for i, v := range src {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return b, nil
	case F16:
		b := make([]byte, 2*len(src))
		safetensors.EncodeF16(b, src)
		return b, nil
	case BF16:
		b := make([]byte, 2*len(src))
		safetensors.EncodeBF16(b, src)
		return b, nil
	case Q8_0, Q4_0:
		if cols%32 != 0 {
			return nil, fmt.Errorf("encode %s: row length %d is not a multiple of 32", t, cols)
		}
		return quantize(t, src, rows, cols), nil
	}
	return nil, fmt.Errorf("encode: tensor type %s cannot be written (F32, F16, BF16, Q8_0, Q4_0)", t)
}

// Decode converts data of type t holding a row-major [rows, cols] matrix
// to float32 values.
func Decode(t Type, data []byte, rows, cols int) ([]float32, error) {
	n := rows * cols
	need, ok := t.RowBytes(int64(n))
	if !ok || cols%max(1, t.BlockSize()) != 0 {
		return nil, fmt.Errorf("decode %s: [%d, %d] does not fill whole blocks", t, rows, cols)
	}
	if int64(len(data)) != need {
		return nil, fmt.Errorf("decode %s: %d bytes for [%d, %d], want %d", t, len(data), rows, cols, need)
	}
	out := hugepage.Make(n)
	switch t {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
	case F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:])))
		}
	case F16:
		safetensors.DecodeF16(out, data)
	case BF16:
		safetensors.DecodeBF16(out, data)
	case Q8_0, Q4_0:
		if err := dequantize(t, out, data, rows, cols); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("decoding %s tensors is not supported (F32, F16, BF16, F64, Q8_0, Q4_0)", t)
	}
	return out, nil
}
