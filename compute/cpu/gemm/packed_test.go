package gemm

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPackReadsBack packs matrices of every size class around the panel
// height (whole panels, a tail, only a tail, empty), in place and into a new
// buffer, and reads them back whole, by row and by column.
func TestPackReadsBack(t *testing.T) {
	for _, im := range impls() {
		for _, rows := range []int{0, 1, 15, 16, 17, 33, 50} {
			for _, cols := range []int{0, 1, 7, 8, 16, 20, 77} {
				for _, inPlace := range []bool{false, true} {
					name := fmt.Sprintf("%s/%dx%d/inPlace=%v", im.name, rows, cols, inPlace)
					r := rand.New(rand.NewPCG(uint64(rows), uint64(cols)))
					s := randSlice(r, rows*cols)
					orig := slices.Clone(s)
					var p *Packed
					withImpl(im, func() { p = Pack(s, rows, cols, inPlace) })
					if !inPlace && !slices.Equal(s, orig) {
						t.Fatalf("%s: Pack changed its source", name)
					}
					got := make([]float32, rows*cols)
					p.Unpack(got)
					if !slices.Equal(got, orig) {
						t.Fatalf("%s: Unpack differs from the packed matrix", name)
					}
					for i := range rows {
						row := make([]float32, cols)
						p.Row(i, row)
						if !slices.Equal(row, orig[i*cols:(i+1)*cols]) {
							t.Fatalf("%s: Row(%d) = %v, want %v", name, i, row, orig[i*cols:(i+1)*cols])
						}
					}
					for j := range cols {
						col := make([]float32, rows)
						p.Col(j, col)
						for i, v := range col {
							if v != orig[i*cols+j] {
								t.Fatalf("%s: Col(%d)[%d] = %v, want %v", name, j, i, v, orig[i*cols+j])
							}
						}
					}
				}
			}
		}
	}
}

// TestPackLayout checks the panels against their definition: panel q holds
// S[q·nr+i, c] at c·nr+i, and the tail panel is zero past the last row.
func TestPackLayout(t *testing.T) {
	const rows, cols = 37, 5
	s := make([]float32, rows*cols)
	for i := range s {
		s[i] = float32(i + 1)
	}
	p := Pack(slices.Clone(s), rows, cols, true)
	for q := 0; q*nr < rows; q++ {
		panel := p.panel(q)
		if len(panel) != nr*cols {
			t.Fatalf("panel %d holds %d values, want %d", q, len(panel), nr*cols)
		}
		for c := range cols {
			for i := range nr {
				want := float32(0)
				if q*nr+i < rows {
					want = s[(q*nr+i)*cols+c]
				}
				if got := panel[c*nr+i]; got != want {
					t.Fatalf("panel %d [%d·nr+%d] = %v, want %v", q, c, i, got, want)
				}
			}
		}
	}
}

// TestSgemmPackedMatchesReference runs SgemmPacked on the shapes and scalars
// Sgemm is tested on, both ways of reading the packed B, against the
// float64 reference.
func TestSgemmPackedMatchesReference(t *testing.T) {
	defer SetThreads(SetThreads(2))
	for _, im := range impls() {
		for _, s := range append(shapes, shape{40, 2050, 300}, shape{300, 33, 700}) {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for _, sc := range scalars {
					name := fmt.Sprintf("%s/%dx%dx%d/tA=%v,tB=%v/alpha=%v,beta=%v", im.name, s.m, s.n, s.k, tr[0], tr[1], sc.alpha, sc.beta)
					r := rand.New(rand.NewPCG(uint64(s.m*1000003+s.n*1009+s.k), 9))
					a, lda, _, _, c, ldc := operands(r, s, tr[0], tr[1], 3)
					br, bc := s.k, s.n
					if tr[1] {
						br, bc = s.n, s.k
					}
					b := randSlice(r, br*bc)
					want := slices.Clone(c)
					orig := slices.Clone(c)
					SgemmRef(tr[0], tr[1], s.m, s.n, s.k, sc.alpha, a, lda, b, max(bc, 1), sc.beta, want, ldc)
					withImpl(im, func() {
						p := Pack(slices.Clone(b), br, bc, sc.beta == 0)
						SgemmPacked(tr[0], tr[1], s.m, s.n, s.k, sc.alpha, a, lda, p, sc.beta, c, ldc)
					})
					compare(t, name, s, c, want, orig, ldc)
				}
			}
		}
	}
}

// TestSgemmPackedThreads splits products over several thread counts, so
// that thread bands start inside the whole panels and in the tail.
func TestSgemmPackedThreads(t *testing.T) {
	defer SetThreads(SetThreads(1))
	for _, s := range []shape{{200, 181, 70}, {13, 903, 100}, {700, 20, 100}, {96, 97, 300}} {
		for _, th := range []int{1, 2, 3, 7} {
			for _, transB := range []bool{false, true} {
				SetThreads(th)
				r := rand.New(rand.NewPCG(uint64(s.m+s.n), uint64(th)))
				a, lda, _, _, c, ldc := operands(r, s, false, transB, 1)
				br, bc := s.k, s.n
				if transB {
					br, bc = s.n, s.k
				}
				b := randSlice(r, br*bc)
				want := slices.Clone(c)
				orig := slices.Clone(c)
				SgemmRef(false, transB, s.m, s.n, s.k, 1.5, a, lda, b, bc, 0.25, want, ldc)
				SgemmPacked(false, transB, s.m, s.n, s.k, 1.5, a, lda, Pack(b, br, bc, false), 0.25, c, ldc)
				compare(t, fmt.Sprintf("%dx%dx%d/threads=%d/tB=%v", s.m, s.n, s.k, th, transB), s, c, want, orig, ldc)
			}
		}
	}
}

// TestSgemmPackedDirectMatchesSgemm checks that a product by a packed Sᵀ is
// bit for bit the product Sgemm computes from S: the same panels reach the
// same kernel, only their packing is skipped.
func TestSgemmPackedDirectMatchesSgemm(t *testing.T) {
	defer SetThreads(SetThreads(2))
	const m, n, k = 130, 2305, 700
	r := rand.New(rand.NewPCG(3, 4))
	a, b := randSlice(r, m*k), randSlice(r, n*k)
	want, got := make([]float32, m*n), make([]float32, m*n)
	Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, want, n)
	SgemmPacked(false, true, m, n, k, 1, a, k, Pack(b, n, k, false), 0, got, n)
	if !slices.Equal(got, want) {
		t.Error("SgemmPacked(transB) differs from Sgemm on the same S")
	}
}

func TestSgemmPackedRejectsWrongShape(t *testing.T) {
	p := Pack(make([]float32, 6), 2, 3, false)
	defer func() {
		if recover() == nil {
			t.Error("SgemmPacked accepted a 2×3 B for a product that needs 3×2")
		}
	}()
	SgemmPacked(false, false, 1, 2, 3, 1, make([]float32, 3), 3, p, 0, make([]float32, 2), 2)
}

func TestSgemmPackedAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes pools drop items")
	}
	defer SetThreads(SetThreads(2))
	const m, n, k = 256, 768, 768
	r := rand.New(rand.NewPCG(1, 1))
	a, c := randSlice(r, m*k), make([]float32, m*n)
	p := Pack(randSlice(r, n*k), n, k, true)
	for _, transB := range []bool{false, true} {
		SgemmPacked(false, transB, m, n, k, 1, a, k, p, 0, c, n)
		allocs := testing.AllocsPerRun(20, func() {
			SgemmPacked(false, transB, m, n, k, 1, a, k, p, 0, c, n)
		})
		if allocs != 0 {
			t.Errorf("transB=%v: SgemmPacked allocated %v times per call, want 0", transB, allocs)
		}
	}
}
