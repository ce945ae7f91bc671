package model_test

import (
	"bytes"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/compute/quant"
	"github.com/fynetune/fynetune/model"
)

// TestRandomQuantizedMatchesRandom: a random model built at 4 or 8 bits
// (its matrices made and quantized a chunk of rows at a time) holds exactly
// the quantization of the same random model built at 16 bits.
func TestRandomQuantizedMatchesRandom(t *testing.T) {
	c := model.GPT2Config(2, 64, 4, 5000) // embedding larger than one generation chunk
	full, err := model.NewRandomWith(c, cpu.New(), 5, model.LoadOptions{Bits: 16})
	if err != nil {
		t.Fatal(err)
	}
	for _, bits := range []int{8, 4} {
		q, err := model.NewRandomWith(c, cpu.New(), 5, model.LoadOptions{Bits: bits})
		if err != nil {
			t.Fatal(err)
		}
		check := func(name string, f, w *compute.Weight) {
			var opts []quant.Option
			if f.Transposed {
				opts = append(opts, quant.Transposed())
			}
			want := quant.Quantize(w.DType, f.Values(), f.Out, f.In, opts...)
			if !bytes.Equal(w.Raw, want) {
				t.Errorf("bits %d: %s (%v) differs from the quantized 16-bit model's", bits, name, w.DType)
			}
		}
		check("embedding", full.Embed, q.Embed)
		check("positions", full.PosEmbed, q.PosEmbed)
		fl, ql := full.Linears(), q.Linears()
		for i := range fl {
			check(fl[i].Path, fl[i].W, ql[i].W)
		}
	}
}
