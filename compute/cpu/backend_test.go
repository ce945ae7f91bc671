package cpu

import (
	"math"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/computetest"
)

func TestSuite(t *testing.T) {
	// One thread runs everything inline; three split even the suite's
	// modest shapes into parts on any machine.
	for _, threads := range []int{1, 3} {
		t.Run(strings.Repeat("T", threads), func(t *testing.T) {
			computetest.RunSuite(t, func() compute.Backend { return New(WithThreads(threads)) })
		})
	}
}

func TestName(t *testing.T) {
	for _, c := range []struct {
		threads int
		want    string
	}{
		{1, `^cpu \(.+, 1 thread\)$`},
		{4, `^cpu \(.+, 4 threads\)$`},
	} {
		if got := New(WithThreads(c.threads)).Name(); !regexp.MustCompile(c.want).MatchString(got) {
			t.Errorf("Name() with %d threads = %q, want a match for %s", c.threads, got, c.want)
		}
	}
}

func TestWeightPayloadErrors(t *testing.T) {
	b := New()
	for _, dt := range []compute.DType{compute.F16, compute.BF16, compute.Q8, compute.NF4, compute.Q8_0, compute.Q4_0} {
		w := &compute.Weight{Name: "h.0.mlp.c_fc.weight", Out: 2, In: 2, DType: dt, Raw: make([]byte, 3)}
		msg := panicMessage(func() { b.PrepareWeight(w) })
		want := "weight \"h.0.mlp.c_fc.weight\": quant: " + dt.String() + " payload of a 2×2 matrix is 3 bytes, want"
		if !strings.Contains(msg, want) {
			t.Errorf("PrepareWeight(%v): panic %q, want it to contain %q", dt, msg, want)
		}
	}
	// A weight whose values do not match its shape is named too.
	msg := panicMessage(func() {
		b.PrepareWeight(&compute.Weight{Name: "wte", Out: 3, In: 2, DType: compute.F32, F32: make([]float32, 5)})
	})
	if !strings.Contains(msg, `"wte"`) || !strings.Contains(msg, "5 values for shape [3 2]") {
		t.Errorf("PrepareWeight of a short F32 weight: panic %q", msg)
	}
}

func panicMessage(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg, _ = r.(string)
			if msg == "" {
				msg = "(non-string panic)"
			}
		}
	}()
	f()
	return ""
}

func TestMatMulBetaZeroDoesNotReadC(t *testing.T) {
	b := New()
	a := b.NewTensor(2, 3)
	b.Upload(a, []float32{1, 2, 3, 4, 5, 6})
	c := b.NewTensor(2, 2)
	b.Upload(c, []float32{float32(math.NaN()), float32(math.Inf(1)), 0, float32(math.NaN())})
	b.MatMul(c, a, a, false, true, 1, 0)
	want := []float32{14, 32, 32, 77}
	for i, v := range c.Data {
		if v != want[i] {
			t.Fatalf("MatMul with beta 0 over NaN: got %v, want %v", c.Data, want)
		}
	}
}

func TestCrossEntropyInPlace(t *testing.T) {
	b := New(WithThreads(2))
	rng := rand.New(rand.NewPCG(1, 2))
	const n, v = 40, 1000
	vals := make([]float32, n*v)
	for i := range vals {
		vals[i] = float32(rng.NormFloat64() * 3)
	}
	targets := make([]int32, n)
	for i := range targets {
		targets[i] = int32(rng.IntN(v))
	}
	targets[3] = compute.IgnoreIndex
	logits, dl := b.NewTensor(n, v), b.NewTensor(n, v)
	b.Upload(logits, vals)
	sum1, count1 := b.CrossEntropy(dl, logits, targets, 0.5)
	sum2, count2 := b.CrossEntropy(logits, logits, targets, 0.5)
	if sum1 != sum2 || count1 != count2 {
		t.Errorf("in place: (%v, %d), separate: (%v, %d)", sum2, count2, sum1, count1)
	}
	for i := range dl.Data {
		if dl.Data[i] != logits.Data[i] {
			t.Fatalf("in-place dlogits[%d] = %v, separate %v", i, logits.Data[i], dl.Data[i])
		}
	}
}

// TestThreadCountsAgree checks that splitting work over goroutines changes
// nothing: the forward results are the same bits for any thread count.
func TestThreadCountsAgree(t *testing.T) {
	run := func(threads int) [][]float32 {
		s := newStep(New(WithThreads(threads)), 2, 64, 4, 2, 16, 500)
		s.forward()
		loss, _ := s.b.CrossEntropy(s.dlogits, s.logits, s.targets, 1)
		return [][]float32{s.att.Data, s.probs.Data, s.norm.Data, s.rstd.Data, s.act.Data, s.dlogits.Data, {float32(loss)}}
	}
	one, many := run(1), run(3)
	for i := range one {
		for j := range one[i] {
			if math.Float32bits(one[i][j]) != math.Float32bits(many[i][j]) {
				t.Fatalf("output %d differs at %d: 1 thread %v, 3 threads %v", i, j, one[i][j], many[i][j])
			}
		}
	}
}

// step holds the tensors of one transformer-like training step.
type step struct {
	b                      *Backend
	batch, seq, h, kvh, hd int
	x, q, k, v, att, probs *compute.Tensor
	norm, rstd, w, act     *compute.Tensor
	dq, dk, dv, datt       *compute.Tensor
	dx, dw                 *compute.Tensor
	logits, dlogits        *compute.Tensor
	proj                   *compute.Weight
	targets                []int32
}

func newStep(b *Backend, batch, seq, h, kvh, hd, vocab int) *step {
	rng := rand.New(rand.NewPCG(3, 4))
	s := &step{b: b, batch: batch, seq: seq, h: h, kvh: kvh, hd: hd}
	n, d, dkv := batch*seq, h*hd, kvh*hd
	randT := func(shape ...int) *compute.Tensor {
		t := b.NewTensor(shape...)
		for i := range t.Data {
			t.Data[i] = float32(rng.NormFloat64())
		}
		return t
	}
	s.x, s.w = randT(n, d), randT(d)
	s.q, s.k, s.v = randT(n, d), randT(n, dkv), randT(n, dkv)
	s.att, s.probs = b.NewTensor(n, d), b.NewTensor(batch, h, seq, seq)
	s.norm, s.rstd, s.act = b.NewTensor(n, d), b.NewTensor(n), b.NewTensor(n, d)
	s.dq, s.dk, s.dv, s.datt = b.NewTensor(n, d), b.NewTensor(n, dkv), b.NewTensor(n, dkv), randT(n, d)
	s.dx, s.dw = b.NewTensor(n, d), b.NewTensor(d)
	s.logits, s.dlogits = randT(n, vocab), b.NewTensor(n, vocab)
	pw := make([]float32, vocab*d)
	for i := range pw {
		pw[i] = float32(rng.NormFloat64() * 0.1)
	}
	s.proj = &compute.Weight{Name: "proj", Out: vocab, In: d, DType: compute.F32, F32: pw}
	b.PrepareWeight(s.proj)
	s.targets = make([]int32, n)
	for i := range s.targets {
		s.targets[i] = int32(rng.IntN(vocab))
	}
	s.targets[0] = compute.IgnoreIndex
	return s
}

func (s *step) forward() {
	b := s.b
	b.RMSNorm(s.norm, s.rstd, s.x, s.w, 1e-6)
	b.RoPE(s.q, s.batch, s.seq, s.h, s.hd, 0, 10000)
	b.Attention(s.att, s.probs, s.q, s.k, s.v, s.batch, s.seq, s.seq, s.h, s.kvh, s.hd)
	b.SiluMul(s.act, s.norm, s.att)
}

// TestNoAllocations checks that the operations of a training step do not
// allocate once the backend has seen their shapes.
func TestNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items at random)")
	}
	b := New(WithThreads(2))
	s := newStep(b, 2, 64, 4, 2, 32, 300)
	mean := b.NewTensor(s.x.Rows())
	bias := b.NewTensor(s.x.Cols())
	parts := []*compute.Tensor{b.NewTensor(s.x.Rows(), 16), b.NewTensor(s.x.Rows(), s.x.Cols()-16)}
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"Linear", func() { b.Linear(s.logits, s.norm, s.proj, nil) }},
		{"LinearBackwardInput", func() { b.LinearBackwardInput(s.dx, s.dlogits, s.proj, false) }},
		{"MatMul", func() { b.MatMul(s.dw, s.rstd, s.norm, false, false, 1, 1) }},
		{"Attention", func() {
			b.Attention(s.att, s.probs, s.q, s.k, s.v, s.batch, s.seq, s.seq, s.h, s.kvh, s.hd)
		}},
		{"Attention without probs", func() {
			b.Attention(s.att, nil, s.q, s.k, s.v, s.batch, s.seq, s.seq, s.h, s.kvh, s.hd)
		}},
		{"AttentionBackward", func() {
			b.AttentionBackward(s.dq, s.dk, s.dv, s.datt, s.probs, s.q, s.k, s.v, s.batch, s.seq, s.seq, s.h, s.kvh, s.hd)
		}},
		{"RMSNorm", func() { b.RMSNorm(s.norm, s.rstd, s.x, s.w, 1e-6) }},
		{"RMSNormBackward", func() { b.RMSNormBackward(s.dx, s.dw, s.datt, s.x, s.rstd, s.w) }},
		{"LayerNorm", func() { b.LayerNorm(s.norm, mean, s.rstd, s.x, s.w, bias, 1e-5) }},
		{"LayerNormBackward", func() { b.LayerNormBackward(s.dx, s.dw, bias, s.datt, s.x, mean, s.rstd, s.w) }},
		{"RoPE", func() { b.RoPE(s.q, s.batch, s.seq, s.h, s.hd, 0, 10000) }},
		{"RoPEBackward", func() { b.RoPEBackward(s.dq, s.batch, s.seq, s.h, s.hd, 0, 10000) }},
		{"CrossEntropy", func() { b.CrossEntropy(s.dlogits, s.logits, s.targets, 0.01) }},
		{"GeluTanh", func() { b.GeluTanh(s.act, s.x) }},
		{"GeluTanhBackward", func() { b.GeluTanhBackward(s.dx, s.datt, s.x) }},
		{"SiluMul", func() { b.SiluMul(s.act, s.x, s.norm) }},
		{"SiluMulBackward", func() { b.SiluMulBackward(s.dx, s.act, s.datt, s.x, s.norm) }},
		{"Add", func() { b.Add(s.x, s.x, s.att) }},
		{"Scale", func() { b.Scale(s.act, 0.5) }},
		{"BiasBackward", func() { b.BiasBackward(bias, s.datt) }},
		{"SplitCols", func() { b.SplitCols(parts, s.norm) }},
		{"ConcatCols", func() { b.ConcatCols(s.norm, parts) }},
	} {
		c.f() // first call grows the scratch buffers
		if n := testing.AllocsPerRun(20, c.f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", c.name, n)
		}
	}
}

func BenchmarkAttention(b *testing.B) {
	for _, bwd := range []bool{false, true} {
		name := "forward"
		if bwd {
			name = "backward"
		}
		b.Run(name, func(b *testing.B) {
			s := newStep(New(), 4, 128, 12, 12, 64, 1)
			s.forward()
			// causal attention: QKᵀ and PV over the lower triangle
			flops := 2 * 2 * float64(s.batch*s.h*s.seq*(s.seq+1)/2*s.hd)
			if bwd {
				flops *= 2
			}
			b.ResetTimer()
			for range b.N {
				if bwd {
					s.b.AttentionBackward(s.dq, s.dk, s.dv, s.datt, s.probs, s.q, s.k, s.v, s.batch, s.seq, s.seq, s.h, s.kvh, s.hd)
				} else {
					s.b.Attention(s.att, s.probs, s.q, s.k, s.v, s.batch, s.seq, s.seq, s.h, s.kvh, s.hd)
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkLinear(b *testing.B) {
	// GPT-2 small's c_attn on 512 tokens: [512,768] × [2304,768]ᵀ.
	be := New()
	const n, in, out = 512, 768, 2304
	rng := rand.New(rand.NewPCG(5, 6))
	w := &compute.Weight{Name: "c_attn", Out: out, In: in, DType: compute.F32, F32: make([]float32, out*in)}
	for i := range w.F32 {
		w.F32[i] = float32(rng.NormFloat64())
	}
	be.PrepareWeight(w)
	x, y := be.NewTensor(n, in), be.NewTensor(n, out)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	b.ResetTimer()
	for range b.N {
		be.Linear(y, x, w, nil)
	}
	b.ReportMetric(2*n*in*out*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkCrossEntropy(b *testing.B) {
	// 512 positions over GPT-2's vocabulary.
	s := newStep(New(), 1, 512, 1, 1, 2, 50257)
	b.ResetTimer()
	for range b.N {
		s.b.CrossEntropy(s.dlogits, s.logits, s.targets, 1.0/512)
	}
}

func BenchmarkGeluTanh(b *testing.B) {
	// GPT-2 small's MLP activation on 512 tokens.
	be := New()
	x, y := be.NewTensor(512, 3072), be.NewTensor(512, 3072)
	for i := range x.Data {
		x.Data[i] = float32(i%200)*0.03 - 3
	}
	b.ResetTimer()
	for range b.N {
		be.GeluTanh(y, x)
	}
}
