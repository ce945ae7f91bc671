package safetensors

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkOpenStories260K maps, validates and reads every tensor of the
// 1 MB stories260K checkpoint.
func BenchmarkOpenStories260K(b *testing.B) {
	path := filepath.Join(fixturesDir(b), "models", "stories260K", "model.safetensors")
	b.ReportAllocs()
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range f.Names() {
			if _, err := f.Float32(n); err != nil {
				b.Fatal(err)
			}
		}
		f.Close()
	}
}

// BenchmarkParse measures header validation alone on the stories260K bytes.
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(fixturesDir(b), "models", "stories260K", "model.safetensors"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse("model.safetensors", data); err != nil {
			b.Fatal(err)
		}
	}
}

func benchFloats(n int) []float32 {
	r := rand.New(rand.NewPCG(1, 1))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func BenchmarkDecodeF16(b *testing.B) {
	src := benchFloats(1 << 20)
	buf := make([]byte, 2*len(src))
	EncodeF16(buf, src)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		DecodeF16(src, buf)
	}
}

func BenchmarkEncodeF16(b *testing.B) {
	src := benchFloats(1 << 20)
	buf := make([]byte, 2*len(src))
	b.SetBytes(int64(4 * len(src)))
	for b.Loop() {
		EncodeF16(buf, src)
	}
}

func BenchmarkEncodeBF16(b *testing.B) {
	src := benchFloats(1 << 20)
	buf := make([]byte, 2*len(src))
	b.SetBytes(int64(4 * len(src)))
	for b.Loop() {
		EncodeBF16(buf, src)
	}
}
