package gemm

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
)

// rowMatrix is a RowDecoder over a plain row-major matrix. It checks the
// contract SgemmDecode promises: pieces of rows inside the matrix that
// start on a multiple of align.
type rowMatrix struct {
	t          *testing.T
	rows, cols int
	ld         int
	v          []float32
	align      int
	bad        *atomic.Int32
}

func (r *rowMatrix) ok(row, col, n int) bool {
	if row < 0 || row >= r.rows || col < 0 || col%r.align != 0 || n < 0 || col+n > r.cols {
		if r.bad == nil || r.bad.Add(1) == 1 {
			r.t.Errorf("decoder asked for row %d, columns [%d, %d) of a %d×%d matrix with blocks of %d", row, col, col+n, r.rows, r.cols, r.align)
		}
		return false
	}
	return true
}

func (r *rowMatrix) DecodeRow(dst []float32, row, col int) {
	if r.ok(row, col, len(dst)) {
		copy(dst, r.v[row*r.ld+col:][:len(dst)])
	}
}

// panelMatrix is a rowMatrix that also writes packed panels.
type panelMatrix struct{ rowMatrix }

func (r *panelMatrix) DecodeRowPanels(dst []float32, row, col, n, stride int) {
	if r.ok(row, col, n) {
		for i := range n {
			dst[i/PanelWidth*stride+i%PanelWidth] = r.v[row*r.ld+col+i]
		}
	}
}

// TestSgemmDecode checks SgemmDecode against SgemmRef for both storage
// orders of B, with and without the panel decoder, block alignments of 1,
// 32 and 64, shapes that take both the streamed path (few rows of A) and
// the blocked one and cross every block size, and several thread counts.
func TestSgemmDecode(t *testing.T) {
	defer SetThreads(SetThreads(1))
	shapes := []shape{
		{1, 1, 1}, {7, 13, 5}, {9, 17, 100}, {33, 65, 300},
		{64, 200, 768},  // an LM-head chunk: streamed, depth packed at once
		{150, 40, 330},  // rows of A over one block: B decoded a block at a time
		{20, 3100, 70},  // columns of C over one block
		{144, 50, 2000}, // streamed, A packed in several depth pieces
		{300, 70, 600},  // several blocks of rows of A and of depth
	}
	for si, s := range shapes {
		for _, transB := range []bool{false, true} {
			// One reference per problem, shared by every way of computing it.
			sc := scalars[si%len(scalars)]
			r := rand.New(rand.NewPCG(uint64(s.m*1000003+s.n*1009+s.k), 11))
			a, lda, b, ldb, c0, ldc := operands(r, s, false, transB, 2)
			want := append([]float32(nil), c0...)
			SgemmRef(false, transB, s.m, s.n, s.k, sc.alpha, a, lda, b, ldb, sc.beta, want, ldc)
			for _, im := range impls() {
				for _, align := range []int{1, 32, 64} {
					for _, panels := range []bool{false, true} {
						for _, th := range []int{1, 3, 8} {
							SetThreads(th)
							name := fmt.Sprintf("%s/%dx%dx%d/tB=%v/align=%d/panels=%v/threads=%d/alpha=%v,beta=%v",
								im.name, s.m, s.n, s.k, transB, align, panels, th, sc.alpha, sc.beta)
							rm := rowMatrix{t: t, rows: s.k, cols: s.n, ld: ldb, v: b, align: align, bad: new(atomic.Int32)}
							if transB {
								rm.rows, rm.cols = s.n, s.k
							}
							var dec RowDecoder = &rm
							if panels {
								dec = &panelMatrix{rm}
							}
							c := append([]float32(nil), c0...)
							withImpl(im, func() {
								SgemmDecode(transB, s.m, s.n, s.k, sc.alpha, a, lda, dec, align, sc.beta, c, ldc)
							})
							compare(t, name, s, c, want, c0, ldc)
							if t.Failed() {
								t.FailNow()
							}
						}
					}
				}
			}
		}
	}
}

// TestSgemmDecodeErrors checks the messages of bad arguments.
func TestSgemmDecodeErrors(t *testing.T) {
	dec := &rowMatrix{t: t, rows: 4, cols: 4, ld: 4, v: make([]float32, 16), align: 1}
	for _, c := range []struct {
		f    func()
		want string
	}{
		{func() { SgemmDecode(false, -1, 4, 4, 1, nil, 4, dec, 1, 0, nil, 4) }, "negative dimension m=-1"},
		{func() { SgemmDecode(false, 2, 4, 4, 1, make([]float32, 8), 4, nil, 1, 0, make([]float32, 8), 4) }, "B is nil"},
		{func() { SgemmDecode(false, 2, 4, 4, 1, make([]float32, 8), 4, dec, 48, 0, make([]float32, 8), 4) }, "align 48 does not divide 256"},
		{func() { SgemmDecode(false, 2, 4, 4, 1, make([]float32, 7), 4, dec, 1, 0, make([]float32, 8), 4) }, "A is 2×4 with leading dimension 4 and needs 8 elements, slice has 7"},
		{func() { SgemmDecode(false, 2, 4, 4, 1, make([]float32, 8), 4, dec, 1, 0, make([]float32, 8), 3) }, "leading dimension of C is 3"},
	} {
		msg := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			c.f()
			return
		}()
		if !strings.Contains(msg, c.want) {
			t.Errorf("panic %q, want it to contain %q", msg, c.want)
		}
	}
}

// TestSgemmDecodeNoAllocations checks that a product with a decoded B
// allocates nothing once its buffers exist.
func TestSgemmDecodeNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	defer SetThreads(SetThreads(2))
	r := rand.New(rand.NewPCG(3, 3))
	for _, s := range []shape{{64, 300, 512}, {200, 300, 512}} {
		for _, transB := range []bool{false, true} {
			a, lda, b, ldb, c, ldc := operands(r, s, false, transB, 0)
			dec := &panelMatrix{rowMatrix{t: t, rows: s.k, cols: s.n, ld: ldb, v: b, align: 64}}
			if transB {
				dec.rows, dec.cols = s.n, s.k
			}
			f := func() { SgemmDecode(transB, s.m, s.n, s.k, 1, a, lda, dec, 64, 0, c, ldc) }
			f()
			if n := testing.AllocsPerRun(5, f); n != 0 {
				t.Errorf("%v transB=%v: %v allocations per call, want 0", s, transB, n)
			}
		}
	}
}
