package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu/gemm"
	"github.com/fynetune/fynetune/compute/quant"
)

// compactFormat is a storage format of the tests: a dtype and its options.
type compactFormat struct {
	name string
	dt   compute.DType
	opts []quant.Option
}

var compactFormats = []compactFormat{
	{"f16", compute.F16, nil},
	{"bf16", compute.BF16, nil},
	{"int8", compute.Q8, nil},
	{"nf4", compute.NF4, nil},
	{"nf4-plain", compute.NF4, []quant.Option{quant.DoubleQuant(false)}},
	{"q8_0", compute.Q8_0, nil},
	{"q4_0", compute.Q4_0, nil},
}

func randVec(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

// compactWeight quantizes w (out×in) into a prepared compact weight and
// returns it with the values it decodes to.
func compactWeight(t testing.TB, b *Backend, f compactFormat, w []float32, out, in int) (*compute.Weight, []float32) {
	t.Helper()
	raw := quant.Quantize(f.dt, w, out, in, f.opts...)
	deq := make([]float32, out*in)
	if err := quant.Dequantize(f.dt, deq, raw, out, in); err != nil {
		t.Fatal(err)
	}
	wt := &compute.Weight{Name: "w", Out: out, In: in, DType: f.dt, Raw: raw}
	b.PrepareWeight(wt)
	return wt, deq
}

// checkClose compares got with the float64 product want, element i allowed
// 1e-5 of mag[i] = Σ|terms| (the scale of float32 rounding in a sum).
func checkClose(t *testing.T, what string, got []float32, want, mag []float64) {
	t.Helper()
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > 1e-5*mag[i]+1e-30 || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s[%d] = %v, want %v (error %g, allowed %g)", what, i, got[i], want[i], d, 1e-5*mag[i])
		}
	}
}

// TestLinearCompact checks the products with compact weights, forward and
// backward, against the product with the decoded weight computed in float64.
func TestLinearCompact(t *testing.T) {
	// Batches of up to smallBatch rows take the direct path, larger ones
	// gemm.SgemmDecode, whose blocks of depth 256, of 3072 columns of C and
	// of 144 rows of A these shapes cross in both directions.
	shapes := []struct{ n, out, in int }{
		{1, 3, 64},
		{7, 65, 192},
		{8, 5, 172}, // rows of partial blocks
		{9, 5, 172},
		{33, 3, 64},
		{33, 65, 192},
		{17, 300, 640}, // several depth blocks both ways
		{3, 300, 640},
		{150, 70, 650},  // rows of A over one block: B decoded a block at a time
		{20, 3100, 100}, // forward: columns of C over one block
		{12, 40, 3150},  // backward: columns of C over one block
	}
	for _, threads := range []int{1, 3} {
		defer gemm.SetThreads(gemm.SetThreads(threads))
		b := New(WithThreads(threads))
		r := rand.New(rand.NewPCG(uint64(threads), 3))
		for _, f := range compactFormats {
			for _, s := range shapes {
				name := fmt.Sprintf("T%d/%s/n=%d,out=%d,in=%d", threads, f.name, s.n, s.out, s.in)
				t.Run(name, func(t *testing.T) {
					w, deq := compactWeight(t, b, f, randVec(r, s.out*s.in, 0.1), s.out, s.in)
					xv, dyv := randVec(r, s.n*s.in, 1), randVec(r, s.n*s.out, 1)
					biasv, dx0 := randVec(r, s.out, 1), randVec(r, s.n*s.in, 1)

					// forward, with and without bias
					want, mag := make([]float64, s.n*s.out), make([]float64, s.n*s.out)
					for i := range s.n {
						for o := range s.out {
							var sum, m float64
							for k := range s.in {
								p := float64(xv[i*s.in+k]) * float64(deq[o*s.in+k])
								sum += p
								m += math.Abs(p)
							}
							want[i*s.out+o], mag[i*s.out+o] = sum, m
						}
					}
					x := b.NewTensor(s.n, s.in)
					b.Upload(x, xv)
					out := b.NewTensor(s.n, s.out)
					b.Upload(out, randVec(r, s.n*s.out, 1)) // overwritten
					b.Linear(out, x, w, nil)
					checkClose(t, "Linear", out.Data, want, mag)
					bias := b.NewTensor(s.out)
					b.Upload(bias, biasv)
					b.Linear(out, x, w, bias)
					for i := range want {
						want[i] += float64(biasv[i%s.out])
						mag[i] += math.Abs(float64(biasv[i%s.out]))
					}
					checkClose(t, "Linear with bias", out.Data, want, mag)

					// backward, overwriting and accumulating
					want, mag = make([]float64, s.n*s.in), make([]float64, s.n*s.in)
					for i := range s.n {
						for k := range s.in {
							var sum, m float64
							for o := range s.out {
								p := float64(dyv[i*s.out+o]) * float64(deq[o*s.in+k])
								sum += p
								m += math.Abs(p)
							}
							want[i*s.in+k], mag[i*s.in+k] = sum, m
						}
					}
					dy := b.NewTensor(s.n, s.out)
					b.Upload(dy, dyv)
					dx := b.NewTensor(s.n, s.in)
					b.Upload(dx, dx0)
					b.LinearBackwardInput(dx, dy, w, false)
					checkClose(t, "LinearBackwardInput", dx.Data, want, mag)
					b.Upload(dx, dx0)
					b.LinearBackwardInput(dx, dy, w, true)
					for i := range want {
						want[i] += float64(dx0[i])
						mag[i] += math.Abs(float64(dx0[i]))
					}
					checkClose(t, "LinearBackwardInput accumulating", dx.Data, want, mag)
				})
			}
		}
	}
}

// TestDotAxpy checks the vector kernels of the small batches against plain
// float64 sums, for every tail length.
func TestDotAxpy(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	for n := range 100 {
		a, x := randVec(r, n, 1), randVec(r, n, 1)
		y := randVec(r, n+1, 1) // the element past n must not change
		var want, mag float64
		for i := range n {
			want += float64(a[i]) * float64(x[i])
			mag += math.Abs(float64(a[i]) * float64(x[i]))
		}
		if got := dotF32(a, x); math.Abs(float64(got)-want) > 1e-6*mag {
			t.Fatalf("dotF32 of %d values = %v, want %v", n, got, want)
		}
		y0 := append([]float32(nil), y...)
		axpyF32(0.75, x, y[:n])
		for i := range n {
			if w := float64(y0[i]) + 0.75*float64(x[i]); math.Abs(float64(y[i])-w) > 1e-6*(math.Abs(float64(y0[i]))+math.Abs(float64(x[i]))) {
				t.Fatalf("axpyF32 of %d values: y[%d] = %v, want %v", n, i, y[i], w)
			}
		}
		if y[n] != y0[n] {
			t.Fatalf("axpyF32 of %d values wrote past them", n)
		}
	}
}

// TestLinearCompactNoRows checks that an empty batch is a no-op.
func TestLinearCompactNoRows(t *testing.T) {
	b := New()
	for _, f := range compactFormats {
		w, _ := compactWeight(t, b, f, randVec(rand.New(rand.NewPCG(1, 1)), 3*64, 1), 3, 64)
		b.Linear(b.NewTensor(0, 3), b.NewTensor(0, 64), w, nil)
		b.LinearBackwardInput(b.NewTensor(0, 64), b.NewTensor(0, 3), w, false)
		b.Embedding(b.NewTensor(0, 64), w, nil)
	}
}

func TestEmbeddingCompact(t *testing.T) {
	b := New()
	r := rand.New(rand.NewPCG(4, 4))
	const v, d = 50, 100
	ids := []int32{3, 0, 49, 3, 17}
	for _, f := range compactFormats {
		table, deq := compactWeight(t, b, f, randVec(r, v*d, 0.5), v, d)
		out := b.NewTensor(len(ids), d)
		b.Embedding(out, table, ids)
		for i, id := range ids {
			for j := range d {
				if got, want := out.Data[i*d+j], deq[int(id)*d+j]; math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("%s: row %d (id %d) col %d = %v, want %v", f.name, i, id, j, got, want)
				}
			}
		}
		msg := panicMessage(func() { b.Embedding(b.NewTensor(1, d), table, []int32{50}) })
		if !strings.Contains(msg, `table "w": id 50 at position 0 is outside [0, 50)`) {
			t.Errorf("%s: Embedding with a bad id: panic %q", f.name, msg)
		}
	}
}

func TestPrepareCompactErrors(t *testing.T) {
	b := New()
	msg := panicMessage(func() {
		b.PrepareWeight(&compute.Weight{Name: "layers.0.mlp.down_proj.weight", Out: 4, In: 64, DType: compute.Q4_0, Raw: make([]byte, 10)})
	})
	if want := `weight "layers.0.mlp.down_proj.weight": quant: q4_0 payload of a 4×64 matrix is 10 bytes, want 144`; !strings.Contains(msg, want) {
		t.Errorf("PrepareWeight of a short payload: panic %q, want it to contain %q", msg, want)
	}
	raw := quant.Quantize(compute.NF4, make([]float32, 64*2), 2, 64)
	msg = panicMessage(func() {
		b.PrepareWeight(&compute.Weight{Name: "h.0.attn.c_attn.weight", Out: 2, In: 64, Transposed: true, DType: compute.NF4, Raw: raw})
	})
	if want := `weight "h.0.attn.c_attn.weight": a nf4 weight must be stored [Out, In], not transposed`; !strings.Contains(msg, want) {
		t.Errorf("PrepareWeight of a transposed NF4 weight: panic %q, want it to contain %q", msg, want)
	}
	// A weight whose payload changed after PrepareWeight gets a new view.
	w := &compute.Weight{Name: "w", Out: 2, In: 64, DType: compute.NF4, Raw: raw}
	b.PrepareWeight(w)
	w.Raw = quant.Quantize(compute.NF4, make([]float32, 64*3), 3, 64)
	w.Out = 3
	out := b.NewTensor(1, 3)
	b.Linear(out, b.NewTensor(1, 64), w, nil)
	if m := w.Dev.(*quant.Matrix); m.Rows() != 3 {
		t.Errorf("view of a replaced payload has %d rows, want 3", m.Rows())
	}
}

// TestLinearCompactNoAllocations checks that the compact products do not
// allocate once the backend has seen them.
func TestLinearCompactNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items at random)")
	}
	b := New(WithThreads(2))
	r := rand.New(rand.NewPCG(8, 8))
	const n, out, in = 40, 600, 320
	x, y, bias := b.NewTensor(n, in), b.NewTensor(n, out), b.NewTensor(out)
	b.Upload(x, randVec(r, n*in, 1))
	xs, ys := b.NewTensor(3, in), b.NewTensor(3, out) // a small batch
	ids := []int32{1, 5, 9}
	emb := b.NewTensor(len(ids), in)
	for _, f := range compactFormats {
		w, _ := compactWeight(t, b, f, randVec(r, out*in, 0.1), out, in)
		for _, c := range []struct {
			name string
			f    func()
		}{
			{"Linear", func() { b.Linear(y, x, w, bias) }},
			{"LinearBackwardInput", func() { b.LinearBackwardInput(x, y, w, true) }},
			{"Linear small batch", func() { b.Linear(ys, xs, w, bias) }},
			{"LinearBackwardInput small batch", func() { b.LinearBackwardInput(xs, ys, w, false) }},
			{"Embedding", func() { b.Embedding(emb, w, ids) }},
		} {
			c.f()
			if a := testing.AllocsPerRun(10, c.f); a != 0 {
				t.Errorf("%s %s: %v allocations per call, want 0", f.name, c.name, a)
			}
		}
	}
}

// benchLinear multiplies activations [512, 768] by a GPT-2 c_attn weight
// [2304, 768] stored in format f, forward (Linear) and backward
// (LinearBackwardInput), and reports GFLOP/s and the bytes per parameter of
// the weight.
func benchLinear(b *testing.B, f compactFormat) {
	const n, out, in = 512, 2304, 768
	r := rand.New(rand.NewPCG(1, 1))
	wv := randVec(r, out*in, 0.02)
	be := New()
	var w *compute.Weight
	if f.dt == compute.F32 {
		w = &compute.Weight{Name: "w", Out: out, In: in, DType: compute.F32, F32: wv}
		be.PrepareWeight(w)
	} else {
		w, _ = compactWeight(b, be, f, wv, out, in)
	}
	bytesPerParam := quant.BytesPerParam(f.dt, out, in, f.opts...)
	x, y := be.NewTensor(n, in), be.NewTensor(n, out)
	be.Upload(x, randVec(r, n*in, 1))
	be.Upload(y, randVec(r, n*out, 1))
	for _, dir := range []string{"forward", "backward"} {
		b.Run(dir, func(b *testing.B) {
			for b.Loop() {
				if dir == "forward" {
					be.Linear(y, x, w, nil)
				} else {
					be.LinearBackwardInput(x, y, w, false)
				}
			}
			b.ReportMetric(2*n*out*in*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(bytesPerParam, "B/param")
		})
	}
}

func BenchmarkLinearF32(b *testing.B)      { benchLinear(b, compactFormat{"f32", compute.F32, nil}) }
func BenchmarkLinearF16(b *testing.B)      { benchLinear(b, compactFormats[0]) }
func BenchmarkLinearBF16(b *testing.B)     { benchLinear(b, compactFormats[1]) }
func BenchmarkLinearQ8(b *testing.B)       { benchLinear(b, compactFormats[2]) }
func BenchmarkLinearNF4(b *testing.B)      { benchLinear(b, compactFormats[3]) }
func BenchmarkLinearNF4Plain(b *testing.B) { benchLinear(b, compactFormats[4]) }
func BenchmarkLinearQ8_0(b *testing.B)     { benchLinear(b, compactFormats[5]) }
func BenchmarkLinearQ4_0(b *testing.B)     { benchLinear(b, compactFormats[6]) }

// stepWeight is one frozen weight of BenchmarkFrozenProducts: its shape,
// how many rows of activations it multiplies per call and how many calls
// of each direction a training step makes.
type stepWeight struct {
	out, in, n, calls int
	embedding         bool
}

// benchFrozen runs, per op, the products with the frozen weights of one
// GPT-2-124M training step (batch 4×128): the four matrices of each of 12
// layers forward and backward on 512 rows, and the tied LM head forward and
// backward on 4 chunks of 128 rows. bits 16 holds them in f32 as the random
// 16-bit model does (Conv1D layers transposed); bits 4 in NF4 with the head
// in int8, as the 4-bit model does.
func benchFrozen(b *testing.B, bits int, only string) {
	const layers, d, vocab = 12, 768, 50257
	shapes := map[string]stepWeight{
		"attn":    {3 * d, d, 512, 1, false},
		"proj":    {d, d, 512, 1, false},
		"fc":      {4 * d, d, 512, 1, false},
		"fc_proj": {d, 4 * d, 512, 1, false},
		"head":    {vocab, d, 128, 4, true},
	}
	r := rand.New(rand.NewPCG(1, 2))
	pool := randVec(r, 1<<20+7, 0.02)
	values := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = pool[(i*7)%len(pool)]
		}
		return v
	}
	be := New()
	type job struct {
		w     *compute.Weight
		s     stepWeight
		x, y  *compute.Tensor
		count int
	}
	var jobs []job
	for _, name := range []string{"attn", "proj", "fc", "fc_proj", "head"} {
		if only != "" && name != only {
			continue
		}
		s := shapes[name]
		count := layers
		if s.embedding {
			count = 1
		}
		for range count {
			var w *compute.Weight
			switch {
			case bits == 16 && s.embedding:
				w = &compute.Weight{Name: name, Out: s.out, In: s.in, DType: compute.F32, F32: values(s.out * s.in)}
			case bits == 16:
				w = &compute.Weight{Name: name, Out: s.out, In: s.in, Transposed: true, DType: compute.F32, F32: values(s.out * s.in)}
			case s.embedding:
				w = &compute.Weight{Name: name, Out: s.out, In: s.in, DType: compute.Q8, Raw: quant.Quantize(compute.Q8, values(s.out*s.in), s.out, s.in)}
			default:
				w = &compute.Weight{Name: name, Out: s.out, In: s.in, DType: compute.NF4, Raw: quant.Quantize(compute.NF4, values(s.out*s.in), s.out, s.in)}
			}
			be.PrepareWeight(w)
			x, y := be.NewTensor(s.n, s.in), be.NewTensor(s.n, s.out)
			be.Upload(x, values(s.n*s.in))
			be.Upload(y, values(s.n*s.out))
			jobs = append(jobs, job{w, s, x, y, s.calls})
		}
	}
	var flops float64
	for _, j := range jobs {
		flops += 4 * float64(j.s.n*j.s.out*j.s.in*j.count)
	}
	b.ResetTimer()
	for b.Loop() {
		for _, j := range jobs {
			for range j.count {
				be.Linear(j.y, j.x, j.w, nil)
				be.LinearBackwardInput(j.x, j.y, j.w, false)
			}
		}
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkFrozenProducts times the products with the frozen weights of a
// GPT-2-124M training step at 16 and 4 bits (see benchFrozen), all of them
// and each weight kind alone.
func BenchmarkFrozenProducts(b *testing.B) {
	for _, only := range []string{"", "attn", "proj", "fc", "fc_proj", "head"} {
		for _, bits := range []int{16, 4} {
			name := only
			if name == "" {
				name = "all"
			}
			b.Run(fmt.Sprintf("%s/bits=%d", name, bits), func(b *testing.B) { benchFrozen(b, bits, only) })
		}
	}
}
