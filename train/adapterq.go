package train

import (
	"encoding/json"
	"fmt"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/quant"
	"github.com/fynetune/fynetune/model/safetensors"
)

// Quantized adapter storage (--adapter-bits 8|4). A quantized matrix keeps
// its PEFT key; its entry is a U8 tensor holding the matrix flattened to one
// row, padded with zeros to a whole number of blocks, in compute/quant's
// layout for the format (int8 blockwise absmax or NF4 with double
// quantization, blocks of 64), and the file's __metadata__ records, under
// "fynetune.quant.<key>", a JSON object {"format": "nf4"|"int8", "shape":
// [rows, cols], "padded": n}. LoadAdapter dequantizes such entries.
const quantMetaPrefix = "fynetune.quant."

type quantMeta struct {
	Format string `json:"format"`
	Shape  []int  `json:"shape"`
	Padded int    `json:"padded"` // values stored, a multiple of the block
}

// adapterTensor encodes one adapter matrix, at f32 (bits 0) or quantized,
// recording quantized entries in meta.
func adapterTensor(key string, shape []int, v []float32, bits int, meta map[string]string) safetensors.Tensor {
	if bits == 0 {
		return safetensors.F32Tensor(key, shape, v)
	}
	dt, name := compute.NF4, "nf4"
	if bits == 8 {
		dt, name = compute.Q8, "int8"
	}
	block := quant.BlockSize(dt)
	n := (len(v) + block - 1) / block * block
	padded := make([]float32, n)
	copy(padded, v)
	raw := quant.Quantize(dt, padded, 1, n)
	js, _ := json.Marshal(quantMeta{Format: name, Shape: shape, Padded: n})
	meta[quantMetaPrefix+key] = string(js)
	return safetensors.Tensor{Name: key, DType: safetensors.U8, Shape: []int{len(raw)}, Data: raw}
}

// readAdapterTensor returns an adapter matrix's shape and values, whether it
// is stored as floats or quantized.
func readAdapterTensor(f *safetensors.File, key string) ([]int, []float32, error) {
	info, _ := f.Info(key)
	js, ok := f.Metadata()[quantMetaPrefix+key]
	if !ok {
		v, err := f.Float32(key)
		return info.Shape, v, err
	}
	var q quantMeta
	if err := json.Unmarshal([]byte(js), &q); err != nil {
		return nil, nil, fmt.Errorf("%s: tensor %q: bad quantization record: %v", f.Path(), key, err)
	}
	dt := compute.NF4
	switch q.Format {
	case "nf4":
	case "int8":
		dt = compute.Q8
	default:
		return nil, nil, fmt.Errorf("%s: tensor %q: unknown adapter format %q (nf4, int8)", f.Path(), key, q.Format)
	}
	n := 1
	for _, d := range q.Shape {
		n *= d
	}
	if len(q.Shape) != 2 || n > q.Padded || q.Padded%quant.BlockSize(dt) != 0 {
		return nil, nil, fmt.Errorf("%s: tensor %q: shape %v does not fit %d stored values", f.Path(), key, q.Shape, q.Padded)
	}
	raw, err := f.Bytes(key)
	if err != nil {
		return nil, nil, err
	}
	if len(raw) != quant.Bytes(dt, 1, q.Padded) {
		return nil, nil, fmt.Errorf("%s: tensor %q: %d bytes, %s of %d values needs %d", f.Path(), key, len(raw), q.Format, q.Padded, quant.Bytes(dt, 1, q.Padded))
	}
	v := make([]float32, q.Padded)
	if err := quant.Dequantize(dt, v, raw, 1, q.Padded); err != nil {
		return nil, nil, fmt.Errorf("%s: tensor %q: %v", f.Path(), key, err)
	}
	return q.Shape, v[:n], nil
}
