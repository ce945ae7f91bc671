package app

import (
	"runtime"
	"strings"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/internal/testenv"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/train"
)

func TestLoraParamsMatchEngine(t *testing.T) {
	dir := testenv.Fixture(t, "models", "stories260K")
	tests := []struct {
		targets []string
		rank    int
	}{
		{[]string{"q_proj", "v_proj"}, 8},
		{[]string{"q_proj", "k_proj", "v_proj", "o_proj"}, 4},
		{[]string{"all-linear"}, 2},
		{[]string{"gate_proj", "down_proj", "gate_proj"}, 16},
	}
	for _, tc := range tests {
		m, err := model.Load(dir, cpu.New())
		if err != nil {
			t.Fatal(err)
		}
		set, err := train.Attach(m, train.LoraConfig{Targets: tc.targets, Rank: tc.rank, Alpha: 16, Init: "peft"}, 1)
		if err != nil {
			t.Fatal(err)
		}
		var want int64
		for _, p := range set.Params() {
			want += int64(p.Value.Len())
		}
		got, err := LoraParams(m.Config, tc.targets, tc.rank)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%v rank %d: estimate %d LoRA parameters, the engine has %d", tc.targets, tc.rank, got, want)
		}
		m.Close()
	}
	m, _ := model.LoadConfig(dir)
	if _, err := LoraParams(m, []string{"c_attn"}, 8); err == nil || !strings.Contains(err.Error(), "c_attn") {
		t.Errorf("unknown target: %v", err)
	}
}

// The activation and logits estimate counts the buffers the engine
// allocates for a step.
func TestActivationEstimateMatchesAllocation(t *testing.T) {
	dir := testenv.Fixture(t, "models", "stories260K")
	info, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, bt := range [][3]int{{2, 64, 0}, {4, 128, 0}, {4, 128, 1}} {
		cfg := train.DefaultConfig()
		cfg.Mode, cfg.Batch, cfg.SeqLen, cfg.Recompute = "full", bt[0], bt[1], bt[2] == 1
		e, err := EstimateMemory(info, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := train.NewStepperMode(m, bt[0], bt[1], cfg.KeepMode())
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(s)
		alloc := float64(after.TotalAlloc - before.TotalAlloc)
		est := float64(e.Activations + e.Logits)
		if r := est / alloc; r < 0.9 || r > 1.1 {
			t.Errorf("B=%d T=%d recompute=%v: estimated %.0f bytes of activations and logits, the stepper allocates %.0f (ratio %.2f)", bt[0], bt[1], cfg.Recompute, est, alloc, r)
		}
	}
}

// The frozen-weight size at each width is what the loaded model holds.
func TestWeightBytesMatchLoadedModel(t *testing.T) {
	dir := testenv.Fixture(t, "models", "stories260K")
	info, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, bits := range []int{16, 8, 4} {
		m, err := OpenModel(dir, "cpu", "", bits)
		if err != nil {
			t.Fatal(err)
		}
		ws := []*compute.Weight{m.Embed}
		if m.Head != m.Embed {
			ws = append(ws, m.Head)
		}
		var held, matParams int64
		for _, l := range m.Linears() {
			ws = append(ws, l.W)
		}
		for _, w := range ws {
			held += int64(len(w.Raw)) + 4*int64(len(w.F32))
			matParams += int64(w.Out) * int64(w.In)
		}
		held += 4 * (info.Params - matParams) // norms
		m.Close()
		if got := WeightBytes(info, bits); got != held {
			t.Errorf("%d bits: estimate %d bytes of weights, the loaded model holds %d", bits, got, held)
		}
	}
	if !(WeightBytes(info, 4) < WeightBytes(info, 8) && WeightBytes(info, 8) < WeightBytes(info, 16)) {
		t.Errorf("weights not ordered by width: %d, %d, %d", WeightBytes(info, 4), WeightBytes(info, 8), WeightBytes(info, 16))
	}
}

func TestEstimateMemoryByBits(t *testing.T) {
	info, err := Inspect(testenv.Fixture(t, "models", "stories260K"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := train.DefaultConfig()
	cfg.Batch, cfg.SeqLen = 4, 256
	est := map[int]MemoryEstimate{}
	for _, b := range []int{16, 8, 4} {
		cfg.Bits = b
		e, err := EstimateMemory(info, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if e.Total != e.Weights+e.Trainable+e.Gradients+e.Optimizer+e.Activations+e.Logits {
			t.Errorf("%d bits: total %d is not the sum of the parts", b, e.Total)
		}
		if e.Bits != b {
			t.Errorf("estimate for %d bits says %d", b, e.Bits)
		}
		est[b] = e
	}
	// f32 checkpoint: 4 bytes per parameter at 16 bits.
	if w := est[16].Weights; w != info.Params*4 {
		t.Errorf("16-bit weights %d, want %d (f32 checkpoint)", w, info.Params*4)
	}
	if !(est[4].Total < est[8].Total && est[8].Total < est[16].Total) {
		t.Errorf("totals not ordered by bits: 4→%d 8→%d 16→%d", est[4].Total, est[8].Total, est[16].Total)
	}
	if est[16].Activations != est[4].Activations {
		t.Error("activations depend on the bit-width")
	}
	cfg.Bits = 16
	big := cfg
	big.Batch *= 2
	e2, _ := EstimateMemory(info, big)
	if e2.Activations <= est[16].Activations {
		t.Error("activations do not grow with the batch")
	}
	if e2.Logits != est[16].Logits {
		t.Error("the logits grow with the batch although the head runs in chunks")
	}
	bad := cfg
	bad.Bits = 3
	if _, err := EstimateMemory(info, bad); err == nil {
		t.Error("3 bits accepted")
	}
	// AdamW keeps two moments; SGD without momentum none.
	if est[16].Optimizer != 2*est[16].Trainable {
		t.Errorf("AdamW state %d, want %d", est[16].Optimizer, 2*est[16].Trainable)
	}
	sgd := cfg
	sgd.Optimizer = "sgd"
	if e, _ := EstimateMemory(info, sgd); e.Optimizer != 0 {
		t.Errorf("SGD state %d, want 0", e.Optimizer)
	}
}

func TestParseMemAvailable(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"MemTotal:       24684096 kB\nMemFree:        22827508 kB\nMemAvailable:   23988592 kB\n", 23988592 * 1024, true},
		{"MemTotal: 100 kB\nMemFree: 50 kB\n", 50 * 1024, true},
		{"nothing here\n", 0, false},
	}
	for _, tc := range tests {
		got, err := parseMemAvailable([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 3 << 30: "3.0 GiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
