package train_test

import (
	"fmt"
	"testing"

	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/train"
)

// BenchmarkTrainStep: GPT-2-124M-shaped random model, LoRA r=8 on c_attn and
// c_proj, batch 4 × 128, AdamW, with the frozen weights at 16 and 4 bits;
// reports tokens/s and peak RSS (the process's, so run one sub-benchmark per
// process for a clean memory number).
func BenchmarkTrainStep(b *testing.B) {
	for _, bits := range []int{16, 4} {
		b.Run(fmt.Sprintf("bits=%d", bits), func(b *testing.B) { benchTrainStep(b, bits) })
	}
}

func benchTrainStep(b *testing.B, bits int) {
	m, err := model.NewRandomWith(model.GPT2Config(12, 768, 12, 50257), cpu.New(), 1, model.LoadOptions{Bits: bits})
	if err != nil {
		b.Fatal(err)
	}
	set, err := train.Attach(m, train.LoraConfig{Targets: []string{"c_attn", "c_proj"}, Rank: 8, Alpha: 16}, 1)
	if err != nil {
		b.Fatal(err)
	}
	params := set.Params()
	o, _ := train.NewOptimizer(m.Be, train.OptimConfig{Name: "adamw", LR: 1e-4, MaxGradNorm: 1}, params)
	const B, T = 4, 128
	ids, tg := make([]int32, B*T), make([]int32, B*T)
	for i := range ids {
		ids[i], tg[i] = int32(i*7919%50257), int32(i*104729%50257)
	}
	st := train.NewStepper(m, B, T)
	step := func() {
		train.ZeroGrad(m.Be, params)
		st.ForwardBackward(ids, tg, B*T, true)
		o.Update(1e-4)
	}
	step() // warm-up: buffers and packed panels
	b.ResetTimer()
	for range b.N {
		step()
	}
	b.ReportMetric(float64(b.N*B*T)/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(float64(train.MemoryBytes())/1e6, "RSS-MB")
}
