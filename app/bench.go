package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/fynetune/fynetune/compute/cpu/gemm"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/train"
	"github.com/fynetune/fynetune/train/data"
)

// BenchCase is one training benchmark: a model shape, LoRA settings and a
// batch shape.
type BenchCase struct {
	Name    string
	Layers  int // GPT-2 shapes built in memory; 0 for a fixture model
	Dim     int
	Heads   int
	Vocab   int
	Model   string   // model folder for a real model (stories260K)
	Data    string   // text file for a real model
	Targets []string // LoRA targets
}

// BenchCases are the cases `fynetune bench` runs, the ones of the
// performance table in the README.
func BenchCases(fixtures string) []BenchCase {
	return []BenchCase{
		{Name: "gpt2-124m", Layers: 12, Dim: 768, Heads: 12, Vocab: 50257, Targets: []string{"c_attn"}},
		{Name: "gpt2-tiny", Layers: 4, Dim: 256, Heads: 4, Vocab: 50257, Targets: []string{"c_attn"}},
		{Name: "stories260K", Model: filepath.Join(fixtures, "models", "stories260K"),
			Data: filepath.Join(fixtures, "datasets", "tinystories_sample.txt"), Targets: []string{"q_proj", "k_proj", "v_proj", "o_proj"}},
	}
}

// BenchOptions set how a case runs.
type BenchOptions struct {
	Backend string
	Batch   int
	SeqLen  int
	Rank    int
	Steps   int // timed steps
	Warmup  int // untimed steps first
	Threads int // 0: all cores
	Bits    int // frozen weights: 16, 8 or 4 (0: 16)
	// Recompute turns on gradient checkpointing (model.KeepInputs).
	Recompute bool
}

// BenchResult is what one case measured.
type BenchResult struct {
	Case         string  `json:"case"`
	Backend      string  `json:"backend"`
	Bits         int     `json:"bits"`
	Recompute    bool    `json:"recompute"`
	Batch        int     `json:"batch"`
	SeqLen       int     `json:"seq_len"`
	Steps        int     `json:"steps"`
	TokensPerSec float64 `json:"tokens_per_s"`
	StepMS       float64 `json:"step_ms"`
	GFLOPS       float64 `json:"gflops"`
	PeakRSS      uint64  `json:"peak_rss_bytes"`
	Loss         float64 `json:"last_loss"`
}

// RunBench trains one case for opt.Warmup+opt.Steps LoRA steps (AdamW) and
// measures the timed ones. PeakRSS is the process's high-water mark, so run
// one case per process for a clean number.
func RunBench(ctx context.Context, c BenchCase, opt BenchOptions) (BenchResult, error) {
	if opt.Threads > 0 {
		defer gemm.SetThreads(gemm.SetThreads(opt.Threads))
	}
	be, err := NewBackend(opt.Backend)
	if err != nil {
		return BenchResult{}, err
	}
	var m *model.Model
	if c.Layers > 0 {
		m, err = model.NewRandomWith(model.GPT2Config(c.Layers, c.Dim, c.Heads, c.Vocab), be, 1, model.LoadOptions{Bits: opt.Bits})
	} else {
		m, err = model.LoadWith(c.Model, be, model.LoadOptions{Bits: opt.Bits})
	}
	if err != nil {
		return BenchResult{}, err
	}
	defer m.Close()
	cfg := m.Config
	T := min(opt.SeqLen, cfg.MaxPos)
	set, err := train.Attach(m, train.LoraConfig{Targets: c.Targets, Rank: opt.Rank, Alpha: float64(2 * opt.Rank)}, 1)
	if err != nil {
		return BenchResult{}, err
	}
	params := set.Params()
	o, err := train.NewOptimizer(be, train.OptimConfig{Name: "adamw", LR: 1e-4, MaxGradNorm: 1}, params)
	if err != nil {
		return BenchResult{}, err
	}
	batches, err := benchBatches(c, m, opt.Batch, T)
	if err != nil {
		return BenchResult{}, err
	}
	st := train.NewStepperMode(m, opt.Batch, T, train.TrainingKeepMode(opt.Recompute))
	var loss float64
	step := func(i int) {
		b := batches[i%len(batches)]
		train.ZeroGrad(be, params)
		s, n := st.ForwardBackward(b[0], b[1], train.Scored(b[1]), true)
		o.Update(1e-4)
		loss = s / float64(n)
	}
	for i := range opt.Warmup {
		step(i)
	}
	start := time.Now()
	for i := range opt.Steps {
		if err := ctx.Err(); err != nil {
			return BenchResult{}, err
		}
		step(opt.Warmup + i)
	}
	secs := time.Since(start).Seconds()
	tokens := float64(opt.Steps * opt.Batch * T)
	// Matmul work per token: forward 2·(linear params + head) plus causal
	// attention, backward about the same again (input gradients only: the
	// frozen weights get no dW in LoRA).
	var linear int64
	for _, l := range m.Linears() {
		linear += int64(l.W.Out) * int64(l.W.In)
	}
	fwd := 2*float64(linear) + 2*float64(cfg.Dim*cfg.Vocab) + 2*float64(cfg.Layers*T*cfg.Heads*cfg.HeadDim)
	return BenchResult{Case: c.Name, Backend: be.Name(), Bits: m.Bits, Recompute: opt.Recompute, Batch: opt.Batch, SeqLen: T, Steps: opt.Steps,
		TokensPerSec: tokens / secs, StepMS: 1000 * secs / float64(opt.Steps),
		GFLOPS: 2 * fwd * tokens / secs / 1e9, PeakRSS: PeakRSS(), Loss: loss}, nil
}

// benchBatches returns a few [ids, targets] batches: the case's text file
// for a real model, seeded random tokens for a random one.
func benchBatches(c BenchCase, m *model.Model, b, t int) ([][2][]int32, error) {
	var out [][2][]int32
	if c.Data != "" && m.Tok != nil {
		ds, err := data.Load(data.Config{Path: c.Data, SeqLen: t, Truncate: true}, train.TokAdapter{Tokenizer: m.Tok})
		if err != nil {
			return nil, err
		}
		rows := append(ds.Train, ds.Val...)
		bt, err := data.NewBatcher(rows, data.BatcherOptions{BatchSize: b, SeqLen: t, PadID: data.PadID(train.TokAdapter{Tokenizer: m.Tok})})
		if err != nil {
			return nil, err
		}
		for range max(1, bt.BatchesPerEpoch()) {
			ids, tg := make([]int32, b*t), make([]int32, b*t)
			if _, err := bt.Next(ids, tg); err != nil {
				return nil, err
			}
			out = append(out, [2][]int32{ids, tg})
		}
		return out, nil
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for range 4 {
		ids, tg := make([]int32, b*t), make([]int32, b*t)
		for i := range ids {
			ids[i] = int32(rng.IntN(m.Config.Vocab))
			tg[i] = int32(rng.IntN(m.Config.Vocab))
		}
		out = append(out, [2][]int32{ids, tg})
	}
	return out, nil
}

// PeakRSS is the process's peak resident memory (VmHWM on Linux), or the Go
// runtime's total from the OS elsewhere.
func PeakRSS() uint64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				var kb uint64
				if _, err := fmt.Sscan(strings.TrimPrefix(line, "VmHWM:"), &kb); err == nil {
					return kb * 1024
				}
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Sys
}
