package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// impls lists the implementations this machine can run: the one chosen at
// init and, if different, the portable Go one.
func impls() []*impl {
	if best.name == portable.name {
		return []*impl{&best}
	}
	return []*impl{&best, &portable}
}

// withImpl runs f with the implementation forced to im.
func withImpl(im *impl, f func()) {
	prev := cur
	cur = im
	defer func() { cur = prev }()
	f()
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

type shape struct{ m, n, k int }

var shapes = []shape{
	{1, 1, 1}, {7, 13, 5}, {33, 65, 17}, {128, 129, 130},
	{5, 17, 3}, {19, 40, 11}, // k % 4 == 3 (the kernel's unrolled loop has a tail)
	{6, 16, 256}, {12, 32, 257}, // exact tiles; k just over a block
	{1, 300, 70}, // m = 1, GEMV-like
	{70, 1, 90},  // n = 1
	{1, 1, 600},  // dot product, several k blocks
	{9, 11, 0},   // k = 0
	{0, 5, 3}, {5, 0, 3},
	{150, 40, 33}, // m over one MC block
	{37, 3100, 9}, // n over one NC block
}

var scalars = []struct{ alpha, beta float32 }{{1, 0}, {0.5, 1}, {2, -1}, {0, 0.5}}

// operands builds random A, B, C for the problem with leading dimensions
// larger than the rows (pad) and returns them with their leading dimensions.
func operands(r *rand.Rand, s shape, transA, transB bool, pad int) (a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	ar, ac := s.m, s.k
	if transA {
		ar, ac = s.k, s.m
	}
	br, bc := s.k, s.n
	if transB {
		br, bc = s.n, s.k
	}
	lda, ldb, ldc = ac+pad, bc+pad, s.n+pad
	a = randSlice(r, ar*lda)
	b = randSlice(r, br*ldb)
	c = randSlice(r, s.m*ldc)
	return
}

// compare checks got against want within a tolerance of 1e-5 scaled by
// sqrt(k+1) and the magnitude of the values, and checks that the padding
// between rows of C (columns n..ldc) was left untouched.
func compare(t *testing.T, name string, s shape, got, want, orig []float32, ldc int) {
	t.Helper()
	var scale float64 = 1
	for i := 0; i < s.m; i++ {
		for _, v := range want[i*ldc : i*ldc+s.n] {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
	}
	tol := 1e-5 * math.Sqrt(float64(s.k+1)) * scale
	bad := 0
	for i := 0; i < s.m; i++ {
		for j := 0; j < ldc; j++ {
			x := i*ldc + j
			if j >= s.n {
				if got[x] != orig[x] && !(math.IsNaN(float64(got[x])) && math.IsNaN(float64(orig[x]))) {
					t.Errorf("%s: padding C[%d,%d] changed from %v to %v", name, i, j, orig[x], got[x])
					return
				}
				continue
			}
			d := math.Abs(float64(got[x]) - float64(want[x]))
			if !(d <= tol) { // also catches NaN
				if bad < 5 {
					t.Errorf("%s: C[%d,%d] = %v, want %v (tolerance %.3g)", name, i, j, got[x], want[x], tol)
				}
				bad++
			}
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d elements wrong in all", name, bad)
	}
}

func TestSgemmMatchesReference(t *testing.T) {
	defer SetThreads(SetThreads(2))
	for _, im := range impls() {
		for _, s := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for _, sc := range scalars {
					name := fmt.Sprintf("%s/%dx%dx%d/tA=%v,tB=%v/alpha=%v,beta=%v", im.name, s.m, s.n, s.k, tr[0], tr[1], sc.alpha, sc.beta)
					r := rand.New(rand.NewPCG(uint64(s.m*1000003+s.n*1009+s.k), 7))
					a, lda, b, ldb, c, ldc := operands(r, s, tr[0], tr[1], 3)
					want := append([]float32(nil), c...)
					orig := append([]float32(nil), c...)
					SgemmRef(tr[0], tr[1], s.m, s.n, s.k, sc.alpha, a, lda, b, ldb, sc.beta, want, ldc)
					withImpl(im, func() {
						Sgemm(tr[0], tr[1], s.m, s.n, s.k, sc.alpha, a, lda, b, ldb, sc.beta, c, ldc)
					})
					compare(t, name, s, c, want, orig, ldc)
				}
			}
		}
	}
}

// TestSgemmThreads runs a product big enough to be split, with several thread
// counts (including more threads than cores and odd counts), so that every
// split of C into bands is exercised.
func TestSgemmThreads(t *testing.T) {
	defer SetThreads(SetThreads(1))
	for _, s := range []shape{{200, 180, 70}, {13, 900, 100}, {700, 20, 100}, {96, 96, 300}} {
		for _, th := range []int{1, 2, 3, 4, 7} {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				SetThreads(th)
				r := rand.New(rand.NewPCG(uint64(s.m+s.n), uint64(th)))
				a, lda, b, ldb, c, ldc := operands(r, s, tr[0], tr[1], 1)
				want := append([]float32(nil), c...)
				orig := append([]float32(nil), c...)
				SgemmRef(tr[0], tr[1], s.m, s.n, s.k, 1.5, a, lda, b, ldb, 0.25, want, ldc)
				Sgemm(tr[0], tr[1], s.m, s.n, s.k, 1.5, a, lda, b, ldb, 0.25, c, ldc)
				compare(t, fmt.Sprintf("%dx%dx%d/threads=%d/tA=%v,tB=%v", s.m, s.n, s.k, th, tr[0], tr[1]), s, c, want, orig, ldc)
			}
		}
	}
}

// TestSgemmSplit checks that big products are actually split among threads
// and small ones are not, and that the bands cover C exactly.
func TestSgemmSplit(t *testing.T) {
	cases := []struct {
		s       shape
		threads int
		want    int // tm·tn
	}{
		{shape{2048, 2048, 2048}, 2, 2},
		{shape{512, 2304, 768}, 2, 2},
		{shape{512, 2304, 768}, 8, 8},
		{shape{8, 8, 8}, 8, 1},
		{shape{512, 2304, 768}, 1, 1},
	}
	for _, c := range cases {
		j := &job{m: c.s.m, n: c.s.n, k: c.s.k}
		j.split(c.threads)
		if got := j.tm * j.tn; got != c.want {
			t.Errorf("%v with %d threads: split %d×%d, want %d threads", c.s, c.threads, j.tm, j.tn, c.want)
		}
	}
	for _, tc := range []struct{ size, unit, parts int }{{100, 6, 3}, {5, 16, 2}, {2304, 16, 7}, {1, 6, 1}} {
		next := 0
		for i := 0; i < tc.parts; i++ {
			lo, hi := band(tc.size, tc.unit, tc.parts, i)
			if lo != next || hi < lo || (hi != tc.size && hi%tc.unit != 0) {
				t.Errorf("band(%d,%d,%d,%d) = [%d,%d), want it to start at %d and end on a unit boundary", tc.size, tc.unit, tc.parts, i, lo, hi, next)
			}
			next = hi
		}
		if next != tc.size {
			t.Errorf("bands of %d in %d parts end at %d", tc.size, tc.parts, next)
		}
	}
}

// TestSgemmBetaZeroIgnoresNaN fills C with NaN and Inf and checks beta == 0
// overwrites it, for every kernel, shape class and thread count.
func TestSgemmBetaZeroIgnoresNaN(t *testing.T) {
	defer SetThreads(SetThreads(2))
	for _, im := range impls() {
		for _, s := range []shape{{7, 13, 5}, {33, 65, 17}, {300, 200, 64}, {5, 6, 0}} {
			for _, alpha := range []float32{1, 0} {
				r := rand.New(rand.NewPCG(1, 2))
				a, lda, b, ldb, c, ldc := operands(r, s, false, true, 2)
				for i := range c {
					c[i] = float32(math.NaN())
					if i%3 == 0 {
						c[i] = float32(math.Inf(-1))
					}
				}
				orig := append([]float32(nil), c...)
				want := append([]float32(nil), c...)
				SgemmRef(false, true, s.m, s.n, s.k, alpha, a, lda, b, ldb, 0, want, ldc)
				withImpl(im, func() {
					Sgemm(false, true, s.m, s.n, s.k, alpha, a, lda, b, ldb, 0, c, ldc)
				})
				compare(t, fmt.Sprintf("%s/%v/alpha=%v", im.name, s, alpha), s, c, want, orig, ldc)
			}
		}
	}
}

// TestSgemmPanics checks inconsistent arguments panic with a message naming
// the problem.
func TestSgemmPanics(t *testing.T) {
	buf := make([]float32, 100)
	cases := []struct {
		name   string
		f      func()
		substr string
	}{
		{"negative m", func() { Sgemm(false, false, -1, 2, 2, 1, buf, 2, buf, 2, 0, buf, 2) }, "negative dimension"},
		{"lda too small", func() { Sgemm(false, false, 2, 2, 3, 1, buf, 2, buf, 2, 0, buf, 2) }, "leading dimension of A is 2"},
		{"ldb too small transposed", func() { Sgemm(false, true, 2, 4, 3, 1, buf, 3, buf, 2, 0, buf, 4) }, "leading dimension of B is 2"},
		{"ldc too small", func() { Sgemm(false, false, 2, 5, 3, 1, buf, 3, buf, 5, 0, buf, 4) }, "leading dimension of C is 4"},
		{"A too short", func() { Sgemm(false, false, 10, 2, 11, 1, buf, 11, buf, 2, 0, buf, 2) }, "A is 10×11"},
		{"B too short", func() { Sgemm(false, false, 2, 20, 6, 1, buf, 6, buf, 20, 0, buf, 20) }, "B is 6×20"},
		{"C too short", func() { Sgemm(false, false, 20, 6, 2, 1, buf, 2, buf, 6, 0, buf, 6) }, "C is 20×6"},
		{"ref checks too", func() { SgemmRef(true, false, 2, 2, 3, 1, buf[:3], 2, buf, 2, 0, buf, 2) }, "A is 3×2 (transposed)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if r == nil || !strings.Contains(msg, c.substr) {
					t.Errorf("panic = %v, want a message containing %q", r, c.substr)
				}
			}()
			c.f()
		})
	}
}

// TestSgemmNoAllocs checks a mid-size multithreaded call allocates nothing
// once the pools are warm.
func TestSgemmNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, so calls allocate")
	}
	defer SetThreads(SetThreads(2))
	r := rand.New(rand.NewPCG(3, 4))
	const m, n, k = 130, 300, 200
	a, b, c := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
	j := &job{m: m, n: n, k: k}
	if j.split(2); j.tm*j.tn != 2 {
		t.Fatalf("test problem is not split over 2 threads (%d×%d); make it larger", j.tm, j.tn)
	}
	for _, im := range impls() {
		withImpl(im, func() {
			allocs := testing.AllocsPerRun(20, func() {
				Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
			})
			if allocs != 0 {
				t.Errorf("%s: Sgemm allocated %v times per call, want 0", im.name, allocs)
			}
		})
	}
}

func TestSetThreads(t *testing.T) {
	prev := SetThreads(3)
	defer SetThreads(prev)
	if got := Threads(); got != 3 {
		t.Errorf("Threads() = %d after SetThreads(3)", got)
	}
	if got := SetThreads(0); got != 3 {
		t.Errorf("SetThreads(0) returned %d, want the previous 3", got)
	}
	if Threads() < 1 {
		t.Errorf("default Threads() = %d, want >= 1", Threads())
	}
}

// TestSgemmConcurrentCallers runs multithreaded products from several
// goroutines at once; they share the worker pool and the buffer pools.
func TestSgemmConcurrentCallers(t *testing.T) {
	defer SetThreads(SetThreads(2))
	s := shape{120, 140, 150}
	const callers = 4
	type problem struct {
		transA, transB bool
		a, b, c        []float32
		lda, ldb, ldc  int
		want, orig     []float32
	}
	ps := make([]problem, callers)
	for g := range ps {
		p := &ps[g]
		p.transA, p.transB = g%2 == 1, g/2 == 1
		r := rand.New(rand.NewPCG(uint64(g), 11))
		p.a, p.lda, p.b, p.ldb, p.c, p.ldc = operands(r, s, p.transA, p.transB, 2)
		p.orig = append([]float32(nil), p.c...)
		p.want = append([]float32(nil), p.c...)
		SgemmRef(p.transA, p.transB, s.m, s.n, s.k, 1, p.a, p.lda, p.b, p.ldb, 0, p.want, p.ldc)
	}
	var wg sync.WaitGroup
	for g := range ps {
		p := &ps[g]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 { // beta = 0: every call writes the same result
				Sgemm(p.transA, p.transB, s.m, s.n, s.k, 1, p.a, p.lda, p.b, p.ldb, 0, p.c, p.ldc)
			}
		}()
	}
	wg.Wait()
	for g, p := range ps {
		compare(t, fmt.Sprintf("caller %d", g), s, p.c, p.want, p.orig, p.ldc)
	}
}
