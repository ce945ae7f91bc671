package train_test

import (
	"testing"

	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/internal/testenv"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/train"
)

func loraModel(t *testing.T, seed uint64) (*model.Model, []train.Param) {
	m, err := model.Load(testenv.Fixture(t, "models", "stories260K"), cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	set, err := train.Attach(m, train.LoraConfig{Targets: []string{"all-linear"}, Rank: 4, Alpha: 8, Init: "gaussian"}, seed)
	if err != nil {
		t.Fatal(err)
	}
	// Non-zero B so that every gradient is non-trivial.
	for _, l := range set.Mods {
		for i := range l.B.Data {
			l.B.Data[i] = float32(i%7-3) * 0.01
		}
	}
	return m, set.Params()
}

func batch(n int, seed int32) (ids, tg []int32) {
	ids, tg = make([]int32, n), make([]int32, n)
	for i := range ids {
		ids[i] = (int32(i)*37 + seed) % 500
		tg[i] = (int32(i)*91 + seed*3) % 500
		if i%5 == 0 {
			tg[i] = -100
		}
	}
	return ids, tg
}

// TestGradAccumulation: two micro-batches of one row accumulate the same
// gradient as one batch of two rows (the mean over all scored positions).
// The two-row batch has more scored rows than one LM-head chunk, so this
// also checks the chunked head against single-chunk passes.
func TestGradAccumulation(t *testing.T) {
	const T = 96
	ids, tg := batch(2*T, 5)
	m1, p1 := loraModel(t, 9)
	train.NewStepper(m1, 2, T).ForwardBackward(ids, tg, train.Scored(tg), true)

	m2, p2 := loraModel(t, 9)
	st := train.NewStepper(m2, 1, T)
	total := train.Scored(tg)
	st.ForwardBackward(ids[:T], tg[:T], total, true)
	st.ForwardBackward(ids[T:], tg[T:], total, true)
	for i := range p1 {
		if e := relErr(p2[i].Grad.Data, p1[i].Grad.Data); e > 1e-5 {
			t.Errorf("%s: accumulated gradient off by %.2g relative", p1[i].Name, e)
		}
	}
}

// TestStepAllocatesNothing: a whole training step (forward, chunked LM
// head, backward, AdamW with clipping) makes no allocation.
func TestStepAllocatesNothing(t *testing.T) {
	m, params := loraModel(t, 2)
	o, err := train.NewOptimizer(m.Be, train.OptimConfig{Name: "adamw", LR: 1e-3, MaxGradNorm: 1}, params)
	if err != nil {
		t.Fatal(err)
	}
	ids, tg := batch(4*90, 3) // 288 scored positions: three LM-head chunks
	st := train.NewStepper(m, 4, 90)
	step := func() {
		train.ZeroGrad(m.Be, params)
		st.ForwardBackward(ids, tg, train.Scored(tg), true)
		o.Update(1e-3)
	}
	step()
	if a := testing.AllocsPerRun(5, step); a != 0 {
		t.Fatalf("a training step allocates %v times", a)
	}
}
