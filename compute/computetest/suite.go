// Package computetest is the test suite every compute.Backend must pass.
//
// RunSuite checks each operation of a backend, forward and backward, against
// an independent computation in float64: spago's matrices (mat.Dense) for the
// plain arithmetic, spago's automatic differentiation (package ag) for the
// gradients of operations spago can compose (linear layers, LayerNorm,
// RMSNorm, GELU, SwiGLU), and straightforward float64 loops checked by
// central finite differences for the fused operations spago lacks (RoPE,
// causal attention with grouped KV heads, softmax cross-entropy with ignored
// rows). A result passes when its error is within Tol of the reference's
// norm.
//
// The suite only moves data through Upload and Download, so it runs
// unchanged against a backend whose tensors live on a GPU. Use it from a
// backend's tests:
//
//	func TestBackend(t *testing.T) {
//		computetest.RunSuite(t, func() compute.Backend { return cpu.New() })
//	}
package computetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fynetune/fynetune/compute"
)

// Tol is the largest accepted error of a result, relative to the norm of
// its reference.
const Tol = 1e-4

// RunSuite runs every check of the suite against the backend made by
// newBackend, which is called once; the checks run one after the other on
// that backend.
func RunSuite(t *testing.T, newBackend func() compute.Backend) {
	b := newBackend()
	if b == nil {
		t.Fatal("computetest: newBackend returned nil")
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			c.fn(&env{T: t, b: b, rng: rand.New(rand.NewPCG(uint64(len(c.name)), 0x5eed))})
		})
	}
}

var checks = []struct {
	name string
	fn   func(*env)
}{
	{"Tensors", testTensors},
	{"Add", testAdd},
	{"AddBias", testAddBias},
	{"BiasBackward", testBiasBackward},
	{"SplitConcatCols", testSplitConcat},
	{"Embedding", testEmbedding},
	{"GatherRows", testGatherRows},
	{"Linear", testLinear},
	{"MatMul", testMatMul},
	{"LayerNorm", testLayerNorm},
	{"RMSNorm", testRMSNorm},
	{"GeluTanh", testGelu},
	{"SiluMul", testSiluMul},
	{"RoPE", testRoPE},
	{"Attention", testAttention},
	{"FlashAttention", testFlashAttention},
	{"CrossEntropy", testCrossEntropy},
	{"Mul", testMul},
	{"SumSquares", testSumSquares},
	{"Optimizers", testOptimizers},
	{"ShapeChecks", testShapeChecks},
}

// env is one check's test, backend and random source.
type env struct {
	*testing.T
	b   compute.Backend
	rng *rand.Rand
}

// randn returns n normal values times scale.
func (e *env) randn(n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(e.rng.NormFloat64() * scale)
	}
	return v
}

// tensor makes a backend tensor holding vals.
func (e *env) tensor(vals []float32, shape ...int) *compute.Tensor {
	t := e.b.NewTensor(shape...)
	e.b.Upload(t, vals)
	return t
}

// get downloads t.
func (e *env) get(t *compute.Tensor) []float32 {
	v := make([]float32, t.Len())
	e.b.Download(v, t)
	return v
}

// weight makes a prepared F32 weight of logical shape [out, in] from its
// values w in that layout, stored transposed when asked.
func (e *env) weight(name string, w []float32, out, in int, transposed bool) *compute.Weight {
	st := append([]float32(nil), w...)
	if transposed {
		for o := range out {
			for i := range in {
				st[i*out+o] = w[o*in+i]
			}
		}
	}
	// st is the weight's own copy: a backend may rearrange it in place.
	wt := &compute.Weight{Name: name, Out: out, In: in, Transposed: transposed, DType: compute.F32, F32: st, Own: true}
	e.b.PrepareWeight(wt)
	return wt
}

func f64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func norm(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s)
}

// relErr is ‖got-want‖/‖want‖ (or ‖got-want‖ when want is 0).
func relErr(got []float32, want []float64) float64 {
	var d, w float64
	for i, v := range want {
		x := float64(got[i]) - v
		if math.IsNaN(float64(got[i])) {
			return math.Inf(1)
		}
		d += x * x
		w += v * v
	}
	if w == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / w)
}

// near fails the test when got is not within Tol of want.
func (e *env) near(what string, got []float32, want []float64) {
	e.Helper()
	if len(got) != len(want) {
		e.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	if r := relErr(got, want); !(r <= Tol) {
		i, worst := 0, -1.0
		for j, v := range want {
			if d := math.Abs(float64(got[j]) - v); d > worst || math.IsNaN(d) {
				i, worst = j, d
			}
		}
		e.Errorf("%s: error %.3g relative to the reference's norm (tolerance %g); worst at [%d]: got %g, want %g",
			what, r, Tol, i, got[i], want[i])
	}
}

// exact fails the test unless got equals want bit for bit.
func (e *env) exact(what string, got, want []float32) {
	e.Helper()
	if len(got) != len(want) {
		e.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			e.Errorf("%s: [%d] = %g, want %g", what, i, got[i], want[i])
			return
		}
	}
}

// mustPanic fails the test unless f panics.
func (e *env) mustPanic(what string, f func()) {
	e.Helper()
	defer func() {
		if recover() == nil {
			e.Errorf("%s: did not panic", what)
		}
	}()
	f()
}

// fdGrad is the central finite-difference gradient of f at x.
func fdGrad(f func([]float64) float64, x []float64) []float64 {
	g := make([]float64, len(x))
	for i := range x {
		v := x[i]
		h := 1e-5 * math.Max(1, math.Abs(v))
		x[i] = v + h
		fp := f(x)
		x[i] = v - h
		fm := f(x)
		x[i] = v
		g[i] = (fp - fm) / (2 * h)
	}
	return g
}

// fdDirections checks a gradient on a large input cheaply: for a few random
// directions d it compares the backend's ⟨grad, d⟩ with the central
// difference of f along d, relative to the norm of the vector of those
// differences.
func (e *env) fdDirections(what string, f func([]float64) float64, x []float64, grad []float32) {
	e.Helper()
	const dirs = 6
	got := make([]float32, dirs)
	want := make([]float64, dirs)
	xs := make([]float64, len(x))
	for k := range dirs {
		d := make([]float64, len(x))
		var gd float64
		for i := range d {
			d[i] = e.rng.NormFloat64()
			gd += float64(grad[i]) * d[i]
		}
		h := 1e-5 * math.Max(1, norm(x)/math.Sqrt(float64(len(x))))
		for i := range x {
			xs[i] = x[i] + h*d[i]
		}
		fp := f(xs)
		for i := range x {
			xs[i] = x[i] - h*d[i]
		}
		fm := f(xs)
		got[k] = float32(gd)
		want[k] = (fp - fm) / (2 * h)
	}
	e.near(what+" (directional derivatives)", got, want)
}

func dot(a []float64, b []float32) float64 {
	var s float64
	for i, v := range a {
		s += v * float64(b[i])
	}
	return s
}

func name(format string, args ...any) string { return fmt.Sprintf(format, args...) }
