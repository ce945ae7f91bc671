package model_test

import (
	"context"
	"testing"

	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/model"
)

// BenchmarkForward: a GPT-2-124M-shaped random model, batch 4 × 128, with
// the LM head over every position; reports tokens/s and the GFLOP/s of its
// matrix products.
func BenchmarkForward(b *testing.B) {
	c := model.GPT2Config(12, 768, 12, 50257)
	m, err := model.NewRandom(c, cpu.New(), 1)
	if err != nil {
		b.Fatal(err)
	}
	const B, T = 4, 128
	ids := make([]int32, B*T)
	for i := range ids {
		ids[i] = int32(i * 7919 % c.Vocab)
	}
	a := m.NewActs(B, T, false)
	logits := m.Be.NewTensor(B*T, c.Vocab)
	var linear int64
	for _, l := range m.Linears() {
		linear += int64(l.W.Out * l.W.In)
	}
	flops := float64(B*T) * (2*float64(linear) + 2*float64(c.Dim*c.Vocab) + 2*float64(c.Layers*T*c.Dim))
	b.ResetTimer()
	for range b.N {
		m.Forward(a, ids, nil)
		m.Logits(logits, a.Final)
	}
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*B*T)/s, "tokens/s")
	b.ReportMetric(flops*float64(b.N)/s/1e9, "GFLOP/s")
}

// BenchmarkGenerate: greedy decoding on a GPT-2-124M-shaped random model,
// 32 new tokens after a 16-token prompt; reports new tokens/s. Each new
// token is a product of one row by every weight, so this measures how
// cheaply the weights are read.
func BenchmarkGenerate(b *testing.B) {
	c := model.GPT2Config(12, 768, 12, 50257)
	m, err := model.NewRandom(c, cpu.New(), 1)
	if err != nil {
		b.Fatal(err)
	}
	prompt := make([]int, 16)
	for i := range prompt {
		prompt[i] = i * 7919 % c.Vocab
	}
	const n = 32
	b.ResetTimer()
	for range b.N {
		out, err := m.Generate(context.Background(), prompt, model.SampleOptions{MaxTokens: n}, func(int) bool { return true })
		if err != nil || len(out) < n {
			b.Fatalf("generated %d tokens (%v), want %d", len(out), err, n)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkLoad: opening stories260K; reports heap bytes allocated per load
// relative to the file size (mmap keeps f32 weights off the heap).
func BenchmarkLoad(b *testing.B) {
	dir := fixtureDir(b)
	b.ReportAllocs()
	for range b.N {
		m, err := model.Load(dir, cpu.New())
		if err != nil {
			b.Fatal(err)
		}
		m.Close()
	}
}
