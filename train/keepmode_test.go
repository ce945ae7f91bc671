package train_test

import (
	"fmt"
	"testing"

	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/internal/testenv"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/train"
)

// TestKeepModesAgree: gradient checkpointing (KeepInputs, every block rerun
// before its backward) and the lean default (KeepLean, norm outputs and MLP
// activations recomputed only where a trainable module reads them) give
// bit-identical losses and gradients, over two steps so that LoRA dropout
// draws new masks (checkpointing must replay the first pass's mask, not
// draw one). Target sets that skip the recomputation (attention-only LoRA)
// and full training (every input needed) are both covered. KeepLean itself
// is checked against PyTorch by the trace goldens.
func TestKeepModesAgree(t *testing.T) {
	cases := []struct {
		fixture string
		targets []string // nil: full fine-tuning
		dropout float64
	}{
		{"stories260K", []string{"all-linear"}, 0.1},
		{"stories260K", []string{"q_proj"}, 0},
		{"stories260K", []string{"down_proj"}, 0.2},
		{"stories260K", nil, 0},
		{"gpt2-tiny-random", []string{"c_attn"}, 0.1},
		{"gpt2-tiny-random", []string{"c_fc", "c_proj"}, 0},
		{"gpt2-tiny-random", nil, 0},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%v/p=%g", c.fixture, c.targets, c.dropout), func(t *testing.T) {
			dir := testenv.Fixture(t, "models", c.fixture)
			run := func(mode model.KeepMode) ([]float64, map[string][]float32) {
				m, err := model.Load(dir, cpu.New())
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				var params []train.Param
				if c.targets == nil {
					params = m.EnableFullTraining()
				} else {
					set, err := train.Attach(m, train.LoraConfig{Targets: c.targets, Rank: 4, Alpha: 8, Dropout: c.dropout, Init: "gaussian"}, 3)
					if err != nil {
						t.Fatal(err)
					}
					for _, l := range set.Mods { // non-zero B: every gradient non-trivial
						for i := range l.B.Data {
							l.B.Data[i] = float32(i%7-3) * 0.01
						}
					}
					set.SetTraining(true)
					params = set.Params()
				}
				o, err := train.NewOptimizer(m.Be, train.OptimConfig{Name: "adamw", LR: 1e-3}, params)
				if err != nil {
					t.Fatal(err)
				}
				st := train.NewStepperMode(m, 2, 24, mode)
				var losses []float64
				grads := map[string][]float32{}
				for step := range 2 {
					ids, tg := batch(2*24, int32(step+1))
					train.ZeroGrad(m.Be, params)
					s, n := st.ForwardBackward(ids, tg, train.Scored(tg), true)
					losses = append(losses, s/float64(n))
					for _, p := range params {
						grads[fmt.Sprint(step, p.Name)] = append([]float32(nil), p.Grad.Data...)
					}
					o.Update(1e-3)
				}
				return losses, grads
			}
			lossLean, gradLean := run(model.KeepLean)
			lossCk, gradCk := run(model.KeepInputs)
			for i := range lossLean {
				if lossLean[i] != lossCk[i] {
					t.Errorf("step %d: loss %v (lean) != %v (checkpointing)", i, lossLean[i], lossCk[i])
				}
			}
			if len(gradLean) == 0 || len(gradLean) != len(gradCk) {
				t.Fatalf("%d gradients (lean) vs %d (checkpointing)", len(gradLean), len(gradCk))
			}
			for k, g := range gradLean {
				h := gradCk[k]
				nonzero := false
				for i := range g {
					if g[i] != h[i] {
						t.Fatalf("%s[%d]: %v (lean) != %v (checkpointing)", k, i, g[i], h[i])
					}
					nonzero = nonzero || g[i] != 0
				}
				if !nonzero {
					t.Errorf("%s: gradient is all zero", k)
				}
			}
		})
	}
}
