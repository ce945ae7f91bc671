package quant

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/internal/testenv"
	"github.com/fynetune/fynetune/model/safetensors"
)

// golden holds ../shared/golden/quant: PyTorch/llama.cpp reference values.
type golden struct {
	rows, cols int
	input      []float32
	tensors    map[string][]float32 // F32 tensors
	bytes      map[string][]byte    // U8 tensors
	codebook   []float32
	blocksize  int
}

func loadGolden(t *testing.T) *golden {
	t.Helper()
	f, err := safetensors.Open(testenv.Golden(t, "quant", "quant.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := &golden{tensors: map[string][]float32{}, bytes: map[string][]byte{}}
	info, ok := f.Info("input")
	if !ok || len(info.Shape) != 2 {
		t.Fatalf("%s: no 2-D tensor \"input\"", f.Path())
	}
	g.rows, g.cols = info.Shape[0], info.Shape[1]
	for _, name := range []string{"input", "nf4.absmax", "nf4.dequant", "q8_0.dequant", "q4_0.dequant"} {
		v, err := f.Float32(name)
		if err != nil {
			t.Fatalf("%s: %v", f.Path(), err)
		}
		g.tensors[name] = slices.Clone(v) // the file is unmapped on return
	}
	for _, name := range []string{"nf4.codes", "q8_0.bytes", "q4_0.bytes"} {
		b, err := f.Bytes(name)
		if err != nil {
			t.Fatalf("%s: %v", f.Path(), err)
		}
		g.bytes[name] = append([]byte(nil), b...)
	}
	g.input = g.tensors["input"]

	js, err := os.ReadFile(testenv.Golden(t, "quant", "quant.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Codebook  []float32 `json:"nf4_codebook"`
		Blocksize int       `json:"nf4_blocksize"`
	}
	if err := json.Unmarshal(js, &meta); err != nil {
		t.Fatalf("quant.json: %v", err)
	}
	g.codebook, g.blocksize = meta.Codebook, meta.Blocksize
	return g
}

// sameBits compares float32 slices bit for bit (so -0 and 0 differ).
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if bad < 5 {
				t.Errorf("%s[%d] = %v, want %v", what, i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(got))
	}
}

func TestGoldenNF4(t *testing.T) {
	g := loadGolden(t)
	if g.blocksize != NF4Block {
		t.Fatalf("golden NF4 block size %d, want %d", g.blocksize, NF4Block)
	}
	cb := NF4Codebook()
	sameBits(t, "codebook", cb[:], g.codebook)

	raw := Quantize(compute.NF4, g.input, g.rows, g.cols, DoubleQuant(false))
	m, err := NewMatrix(compute.NF4, raw, g.rows, g.cols)
	if err != nil {
		t.Fatal(err)
	}
	// Codes, unpacked: high nibble first.
	codes := make([]float32, 0, g.rows*g.cols)
	wantCodes := make([]float32, 0, g.rows*g.cols)
	for i, b := range m.codes {
		codes = append(codes, float32(b>>4), float32(b&15))
		wantCodes = append(wantCodes, float32(g.bytes["nf4.codes"][2*i]), float32(g.bytes["nf4.codes"][2*i+1]))
	}
	sameBits(t, "nf4 codes", codes, wantCodes)
	absmax := make([]float32, g.rows*g.cols/NF4Block)
	for k := range absmax {
		absmax[k] = m.NF4Absmax(k)
	}
	sameBits(t, "nf4 absmax", absmax, g.tensors["nf4.absmax"])
	deq := make([]float32, g.rows*g.cols)
	if err := Dequantize(compute.NF4, deq, raw, g.rows, g.cols); err != nil {
		t.Fatal(err)
	}
	sameBits(t, "nf4 dequant", deq, g.tensors["nf4.dequant"])
}

func TestGoldenGGML(t *testing.T) {
	g := loadGolden(t)
	for _, c := range []struct {
		dt   compute.DType
		name string
	}{
		{compute.Q8_0, "q8_0"},
		{compute.Q4_0, "q4_0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw := Quantize(c.dt, g.input, g.rows, g.cols)
			want := g.bytes[c.name+".bytes"]
			if len(raw) != len(want) {
				t.Fatalf("%d bytes, want %d", len(raw), len(want))
			}
			bad := 0
			for i := range raw {
				if raw[i] != want[i] {
					if bad < 5 {
						t.Errorf("byte %d (row %d, offset %d) = %#02x, want %#02x", i, i/(len(raw)/g.rows), i%(len(raw)/g.rows), raw[i], want[i])
					}
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d bytes differ", bad, len(raw))
			}
			deq := make([]float32, g.rows*g.cols)
			// Decode llama.cpp's own bytes, so that a quantizer bug does not
			// hide a decoder bug.
			if err := Dequantize(c.dt, deq, want, g.rows, g.cols); err != nil {
				t.Fatal(err)
			}
			sameBits(t, c.name+" dequant", deq, g.tensors[c.name+".dequant"])
		})
	}
}
