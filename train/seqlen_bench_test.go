package train_test

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/train"
)

// seqLens are the sequence lengths of BenchmarkSeqLenScaling.
var seqLens = []int{128, 256, 512, 1024, 2048}

// probsOnly hides a backend's compute.FlashAttention, so that the model
// keeps the [B, H, T, T] attention probabilities for the backward pass.
type probsOnly struct{ compute.Backend }

// BenchmarkSeqLenScaling measures how one training step of a
// GPT-2-124M-shaped random model (LoRA r=8 on c_attn, AdamW, batch 1)
// scales with the sequence length: milliseconds per token and the peak
// resident memory of the steps (RSS-MB). The sub-benchmarks T=N use the
// backend as it is (on the CPU: FlashAttention, which keeps a log-sum-exp
// per query row); probs/T=N force the path that keeps the probabilities, for
// comparison.
//
// The peak is the process's high-water mark (VmHWM), reset after the set-up
// where Linux allows it (/proc/self/clear_refs); run each sub-benchmark in
// its own process for clean peaks:
//
//	go test ./train/ -run '^$' -bench 'SeqLenScaling/T=2048$' -benchtime 1x
//	go test ./train/ -run '^$' -bench 'SeqLenScaling/probs/T=2048$' -benchtime 1x
func BenchmarkSeqLenScaling(b *testing.B) {
	for _, t := range seqLens {
		b.Run(fmt.Sprintf("T=%d", t), func(b *testing.B) { benchSeqLen(b, cpu.New(), t) })
	}
	b.Run("probs", func(b *testing.B) {
		for _, t := range seqLens {
			b.Run(fmt.Sprintf("T=%d", t), func(b *testing.B) { benchSeqLen(b, probsOnly{cpu.New()}, t) })
		}
	})
}

func benchSeqLen(b *testing.B, be compute.Backend, seq int) {
	c := model.GPT2Config(12, 768, 12, 50257)
	c.MaxPos = max(c.MaxPos, seq) // a longer learned position table; the weights are random anyway
	m, err := model.NewRandom(c, be, 1)
	if err != nil {
		b.Fatal(err)
	}
	set, err := train.Attach(m, train.LoraConfig{Targets: []string{"c_attn"}, Rank: 8, Alpha: 16}, 1)
	if err != nil {
		b.Fatal(err)
	}
	params := set.Params()
	o, err := train.NewOptimizer(m.Be, train.OptimConfig{Name: "adamw", LR: 1e-4, MaxGradNorm: 1}, params)
	if err != nil {
		b.Fatal(err)
	}
	const B = 1
	ids, tg := make([]int32, B*seq), make([]int32, B*seq)
	for i := range ids {
		ids[i], tg[i] = int32(i*7919%c.Vocab), int32(i*104729%c.Vocab)
	}
	st := train.NewStepper(m, B, seq)
	step := func() {
		train.ZeroGrad(m.Be, params)
		st.ForwardBackward(ids, tg, B*seq, true)
		o.Update(1e-4)
	}
	step() // warm-up: scratch buffers and packed panels
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for range b.N {
		step()
	}
	b.StopTimer()
	b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N*B*seq), "ms/token")
	b.ReportMetric(float64(b.N*B*seq)/b.Elapsed().Seconds(), "tokens/s")
	if cpu0 >= 0 {
		// CPU time of the process, a steadier figure than the wall clock
		// on a machine shared with other work.
		b.ReportMetric((cpuSeconds()-cpu0)*1e3/float64(b.N*B*seq), "cpu-ms/token")
	}
	b.ReportMetric(float64(peakRSS())/1e6, "RSS-MB")
	runtime.KeepAlive(m)
}

// resetPeakRSS resets the process's resident-memory high-water mark where
// Linux allows it; elsewhere the peak stays the whole process's.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// cpuSeconds is the CPU time (user + system) the process has used, from
// /proc/self/stat in clock ticks of 1/100 s; -1 where that is missing.
func cpuSeconds() float64 {
	s, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14 and stime 15.
	i := strings.LastIndexByte(string(s), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(s[i+1:]))
	if len(f) < 13 {
		return -1
	}
	var utime, stime float64
	if _, err := fmt.Sscan(f[11]+" "+f[12], &utime, &stime); err != nil {
		return -1
	}
	return (utime + stime) / 100
}

// peakRSS is the process's peak resident memory in bytes (VmHWM), or the Go
// runtime's total from the OS where /proc is missing.
func peakRSS() uint64 {
	if s, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(s), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				var kb uint64
				if _, err := fmt.Sscan(rest, &kb); err == nil {
					return kb << 10
				}
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Sys
}
