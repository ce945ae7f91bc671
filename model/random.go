package model

import (
	"math/rand/v2"
	"strings"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/internal/hugepage"
)

// NewRandom builds a model of the given shape with random weights in memory
// (GPT-2-style init: N(0, 0.02), norms 1, biases 0), for benchmarks and
// tests that need a model of a size no fixture has. It has no tokenizer.
func NewRandom(c *Config, be compute.Backend, seed uint64) (*Model, error) {
	return NewRandomWith(c, be, seed, LoadOptions{})
}

// NewRandomWith is NewRandom with the frozen weights held as opt says
// (quantized tensor by tensor at 8 or 4 bits, as LoadWith does).
func NewRandomWith(c *Config, be compute.Backend, seed uint64, opt LoadOptions) (*Model, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if opt.Bits == 0 {
		opt.Bits = 16
	}
	m := &Model{Dir: "(random " + c.ModelType + ")", Config: c, Be: be, Bits: opt.Bits}
	rng := rand.New(rand.NewPCG(seed, 0xbe9c))
	var scratch []float32 // matrices quantized at load are dropped after: one buffer serves them all
	err := m.bind(func(b *binder) {
		b.has = func(key string) bool { return strings.HasPrefix(key, "transformer.") }
		// Matrices are N(0, 0.02²), drawn in order: fill makes the same
		// values a chunk of rows at a time as fetch does whole.
		normal := func(v []float32) {
			for i := range v {
				v[i] = float32(rng.NormFloat64() * 0.02)
			}
		}
		b.fill = func(_ string, _, _, _ int, buf []float32) { normal(buf) }
		b.owned = func(string, []float32) bool { return opt.Bits == 16 } // a new buffer per tensor (the scratch serves only quantized ones)
		b.fetch = func(key string, want []int) ([]float32, error) {
			n := 1
			for _, d := range want {
				n *= d
			}
			var v []float32
			if len(want) == 2 && opt.Bits < 16 {
				if cap(scratch) < n {
					scratch = hugepage.Make(n)
				}
				v = scratch[:n]
			} else {
				v = hugepage.Make(n)
			}
			switch {
			case strings.HasSuffix(key, "norm.weight") || strings.Contains(key, ".ln_") || strings.HasPrefix(key, "transformer.ln_f.weight"):
				if strings.HasSuffix(key, ".weight") {
					for i := range v {
						v[i] = 1
					}
				}
			case strings.HasSuffix(key, ".bias"):
			default:
				normal(v)
			}
			return v, nil
		}
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// GPT2Config returns a GPT-2 config with the given shape (n_positions 1024).
func GPT2Config(layers, dim, heads, vocab int) *Config {
	return &Config{ModelType: "gpt2", Arch: ArchGPT2, Vocab: vocab, Dim: dim, Layers: layers, Heads: heads,
		KVHeads: heads, HeadDim: dim / heads, FFN: 4 * dim, MaxPos: 1024, NormEps: 1e-5, TiedHead: true,
		QKVBias: true, OBias: true, MLPBias: true, Activation: "gelu_new", BOS: 50256, EOS: []int{50256}}
}
