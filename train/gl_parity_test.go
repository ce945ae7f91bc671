package train_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/compute/gl"
	"github.com/fynetune/fynetune/compute/quant"
	"github.com/fynetune/fynetune/internal/testenv"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/train"
)

// glBackend makes the OpenGL backend; without an OpenGL 4.3 context the
// test is skipped, except under CI (CI=true), which installs Mesa.
func glBackend(t testing.TB) *gl.Backend {
	t.Helper()
	g, err := gl.New()
	if err != nil {
		if errors.Is(err, gl.ErrUnavailable) && os.Getenv("CI") != "true" {
			t.Skipf("no OpenGL 4.3 compute context here (%v)", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

// TestGLParity trains LoRA adapters on stories260K for 20 steps on the GL
// backend and on the CPU backend from the same initialisation and batches
// (cut from the golden token stream) and requires the same loss at every
// step within 1e-3: with the model's float32 weights (bits 16) and with its
// linear layers quantized to NF4 (bits 4, QLoRA), dequantized in the shaders.
func TestGLParity(t *testing.T) {
	dir := testenv.Fixture(t, "models", "stories260K")
	raw, err := os.ReadFile(testenv.Golden(t, "stories260K", "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	var toks struct {
		Stream []int32 `json:"stream"`
	}
	if err := json.Unmarshal(raw, &toks); err != nil {
		t.Fatal(err)
	}
	g := glBackend(t)
	t.Logf("GL backend: %s", g.Name())
	for _, bits := range []int{16, 4} {
		t.Run(fmt.Sprintf("bits=%d", bits), func(t *testing.T) {
			want := loraLosses(t, dir, cpu.New(), bits, toks.Stream)
			got := loraLosses(t, dir, g, bits, toks.Stream)
			if p := g.Profile(); p != "" {
				t.Log("\n" + p)
			}
			for s := range want {
				if d := math.Abs(got[s] - want[s]); !(d <= 1e-3) {
					t.Errorf("step %d: GL loss %.6f, CPU loss %.6f (differ by %.2g)", s, got[s], want[s], d)
				}
			}
			t.Logf("losses: first %.5f (CPU %.5f), last %.5f (CPU %.5f)", got[0], want[0], got[len(got)-1], want[len(want)-1])
		})
	}
}

// loraLosses runs 20 LoRA steps (rank 4 on every projection, AdamW with
// clipping) on be and returns the loss of each step. With bits 4 the
// linear layers are quantized to NF4 first.
func loraLosses(t *testing.T, dir string, be compute.Backend, bits int, stream []int32) []float64 {
	t.Helper()
	m, err := model.Load(dir, be)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if bits == 4 {
		for _, l := range m.Linears() {
			w := l.W
			w.Raw = quant.Quantize(compute.NF4, w.F32, w.Out, w.In)
			w.DType, w.F32, w.Dev = compute.NF4, nil, nil
			be.PrepareWeight(w)
		}
	}
	set, err := train.Attach(m, train.LoraConfig{Rank: 4, Alpha: 8,
		Targets: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}}, 42)
	if err != nil {
		t.Fatal(err)
	}
	params := set.Params()
	o, err := train.NewOptimizer(be, train.OptimConfig{Name: "adamw", LR: 5e-3, WeightDecay: 0.01, MaxGradNorm: 1}, params)
	if err != nil {
		t.Fatal(err)
	}
	const batch, seq, steps = 2, 32, 20
	st := train.NewStepper(m, batch, seq)
	ids, tg := make([]int32, batch*seq), make([]int32, batch*seq)
	var losses []float64
	for s := range steps {
		for b := range batch {
			off := ((s*batch + b) * seq) % (len(stream) - seq - 1)
			copy(ids[b*seq:(b+1)*seq], stream[off:off+seq])
			copy(tg[b*seq:(b+1)*seq], stream[off+1:off+seq+1])
			// an unscored prompt of a few tokens, as with label masking
			for i := range 1 + (s+b)%4 {
				tg[b*seq+i] = compute.IgnoreIndex
			}
		}
		train.ZeroGrad(be, params)
		sum, n := st.ForwardBackward(ids, tg, train.Scored(tg), true)
		losses = append(losses, sum/float64(n))
		o.Update(5e-3)
	}
	return losses
}

// BenchmarkGLStepGPT2 times LoRA training steps of a GPT-2-124M-shaped
// model (random weights, c_attn adapters of rank 8, AdamW, batch 8 × 512)
// on the GL backend, in tokens/s, and logs the GPU time of each kernel when
// FYNETUNE_GL_PROFILE is set. It is skipped on a software renderer.
func BenchmarkGLStepGPT2(b *testing.B) {
	g := glBackend(b)
	if g.IsSoftware() {
		b.Skipf("%s is a software renderer; run this on a GPU", g.Renderer())
	}
	const batch, seq = 8, 512
	m, err := model.NewRandom(model.GPT2Config(12, 768, 12, 50257), g, 1)
	if err != nil {
		b.Fatal(err)
	}
	set, err := train.Attach(m, train.LoraConfig{Targets: []string{"c_attn"}, Rank: 8, Alpha: 16}, 1)
	if err != nil {
		b.Fatal(err)
	}
	params := set.Params()
	o, err := train.NewOptimizer(g, train.OptimConfig{Name: "adamw", LR: 1e-4, MaxGradNorm: 1}, params)
	if err != nil {
		b.Fatal(err)
	}
	st := train.NewStepper(m, batch, seq)
	ids, tg := make([]int32, batch*seq), make([]int32, batch*seq)
	for i := range ids {
		ids[i] = int32((i * 7919) % 50257)
		tg[i] = int32((i*7919 + 7919) % 50257)
	}
	step := func() {
		train.ZeroGrad(g, params)
		st.ForwardBackward(ids, tg, train.Scored(tg), true)
		o.Update(1e-4)
	}
	step() // compiles the kernels
	g.Finish()
	g.Profile() // (starts the table afresh)
	b.ResetTimer()
	for range b.N {
		step()
	}
	g.Finish()
	b.ReportMetric(float64(b.N*batch*seq)/b.Elapsed().Seconds(), "tokens/s")
	if p := g.Profile(); p != "" {
		b.Log("\n" + p)
	}
}
