package model_test

import (
	"math"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/model"
)

// TestLoadQuantized: at 8 and 4 bits every matrix is quantized (GPT-2's
// Conv1D ones stored [out, in]), norms stay f32, and the logits stay close
// to the 16-bit ones.
func TestLoadQuantized(t *testing.T) {
	for _, name := range []string{"stories260K", "gpt2-tiny-random"} {
		dir := fixtureDir(t)
		if name != "stories260K" {
			dir = dir[:len(dir)-len("stories260K")] + name
		}
		ref, err := model.Load(dir, cpu.New())
		if err != nil {
			t.Fatal(err)
		}
		ids := []int32{1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315}
		logits := func(m *model.Model) []float32 {
			a := m.NewActs(1, len(ids), false)
			m.Forward(a, ids, nil)
			out := m.Be.NewTensor(len(ids), m.Config.Vocab)
			m.Logits(out, a.Final)
			return out.Data
		}
		want := logits(ref)
		for _, c := range []struct {
			bits int
			dt   compute.DType
			tol  float64 // max |Δlogit| relative to the logits' spread
		}{{8, compute.Q8, 0.05}, {4, compute.NF4, 0.5}} {
			m, err := model.LoadWith(dir, cpu.New(), model.LoadOptions{Bits: c.bits})
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range m.Linears() {
				if l.W.DType != c.dt || l.W.F32 != nil || l.W.Transposed {
					t.Fatalf("%s at %d bits: %s is %v (transposed %v)", name, c.bits, l.W.Name, l.W.DType, l.W.Transposed)
				}
			}
			if m.Embed.DType != compute.Q8 {
				t.Errorf("%s: embeddings are %v at %d bits, want int8", name, m.Embed.DType, c.bits)
			}
			got := logits(m)
			var d, spread float64
			for i := range want {
				d = math.Max(d, math.Abs(float64(got[i]-want[i])))
				spread = math.Max(spread, math.Abs(float64(want[i])))
			}
			if d > c.tol*spread {
				t.Errorf("%s at %d bits: logits differ by %.3g (spread %.3g)", name, c.bits, d, spread)
			}
			t.Logf("%s at %d bits: max |Δlogit| %.4f of %.2f", name, c.bits, d, spread)
			m.Close()
		}
		ref.Close()
	}
}
