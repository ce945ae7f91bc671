package gguf_test

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/fynetune/fynetune/model/gguf"
)

// BenchmarkWrite encodes a 1024×1024 f32 matrix to each writable type and
// writes it as a GGUF file; SetBytes counts the f32 input.
func BenchmarkWrite(b *testing.B) {
	const rows, cols = 1024, 1024
	v := randValues(rows*cols, 1)
	for _, typ := range []gguf.Type{gguf.F32, gguf.F16, gguf.Q8_0, gguf.Q4_0} {
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(4 * rows * cols)
			for b.Loop() {
				t := gguf.Tensor{Name: "w", Type: typ, Shape: []int{rows, cols}, Encode: func() ([]byte, error) {
					return gguf.Encode(typ, v, rows, cols)
				}}
				if err := gguf.Write(io.Discard, nil, []gguf.Tensor{t}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadFloat32 reads and decodes a 1024×1024 tensor of each type.
func BenchmarkReadFloat32(b *testing.B) {
	const rows, cols = 1024, 1024
	v := randValues(rows*cols, 1)
	dir := b.TempDir()
	for _, typ := range []gguf.Type{gguf.F32, gguf.F16, gguf.Q8_0, gguf.Q4_0} {
		data, err := gguf.Encode(typ, v, rows, cols)
		if err != nil {
			b.Fatal(err)
		}
		p := filepath.Join(dir, typ.String()+".gguf")
		if err := gguf.WriteFile(p, nil, []gguf.Tensor{{Name: "w", Type: typ, Shape: []int{rows, cols}, Data: data}}); err != nil {
			b.Fatal(err)
		}
		f, err := gguf.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(4 * rows * cols)
			for b.Loop() {
				if _, err := f.Float32("w"); err != nil {
					b.Fatal(err)
				}
			}
		})
		f.Close()
	}
}
