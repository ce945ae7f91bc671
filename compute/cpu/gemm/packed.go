package gemm

import (
	"fmt"
	"math"

	"github.com/fynetune/fynetune/internal/hugepage"
)

// Packed is a matrix S (rows×cols, row-major as given to Pack) held once in
// the micro-kernel's B layout, for a frozen weight that is multiplied every
// step: panel q holds, for each column c, the nr values S[q·nr+i, c].
//
// Each panel is therefore, whole and contiguous, a packed nr-column panel of
// Sᵀ, and a product by Sᵀ (SgemmPacked with transB) reads its B straight
// from here: no packing at all. A product by S repacks each kc×nr panel it
// needs from nr×nr blocks that are each 1 KiB apart, a transpose per block
// (no slower than packing from S itself).
//
// Holding only this form, not S beside it, keeps a model's weights at their
// size; Unpack, Row and Col read S back.
type Packed struct {
	rows, cols int
	nfull      int       // whole panels: rows/nr
	full       []float32 // panel q at [q·nr·cols, (q+1)·nr·cols)
	tail       []float32 // the last rows%nr rows as one more panel, zero-padded to nr rows; nil when rows%nr == 0
}

// Pack packs the row-major rows×cols matrix s. With inPlace the whole panels
// are written over s itself (through a one-panel scratch buffer), so the
// weight does not exist twice even briefly; s then no longer holds S and
// must only be read through the Packed. Otherwise s is left as it is and
// the panels are a new allocation.
func Pack(s []float32, rows, cols int, inPlace bool) *Packed {
	if rows < 0 || cols < 0 || len(s) < rows*cols {
		panic(fmt.Sprintf("gemm: Pack: %d values for a %d×%d matrix", len(s), rows, cols))
	}
	p := &Packed{rows: rows, cols: cols, nfull: rows / nr}
	n := p.nfull * nr * cols
	if r := rows % nr; r > 0 && cols > 0 {
		p.tail = make([]float32, nr*cols)
		for i := range r {
			src := s[(p.nfull*nr+i)*cols:][:cols]
			for c, v := range src {
				p.tail[c*nr+i] = v
			}
		}
	}
	if cols == 0 {
		p.full = s[:0]
		return p
	}
	pack := cur.packBT16
	if inPlace {
		p.full = s[:n:n]
		scratch := make([]float32, nr*cols)
		for q := range p.nfull {
			panel := p.full[q*nr*cols : (q+1)*nr*cols]
			copy(scratch, panel)
			pack(panel, scratch, cols, 0, 0, cols)
		}
		return p
	}
	p.full = hugepage.Make(n)
	for q := range p.nfull {
		pack(p.full[q*nr*cols:], s, cols, q*nr, 0, cols)
	}
	return p
}

// Rows and Cols are S's shape.
func (p *Packed) Rows() int { return p.rows }
func (p *Packed) Cols() int { return p.cols }

// panel returns panel q (q ≤ nfull; nfull is the tail).
func (p *Packed) panel(q int) []float32 {
	if q < p.nfull {
		return p.full[q*nr*p.cols : (q+1)*nr*p.cols]
	}
	return p.tail
}

// Unpack writes S into dst (rows×cols, row-major).
func (p *Packed) Unpack(dst []float32) {
	if len(dst) != p.rows*p.cols {
		panic(fmt.Sprintf("gemm: Unpack: %d values for a %d×%d matrix", len(dst), p.rows, p.cols))
	}
	for i := range p.rows {
		p.Row(i, dst[i*p.cols:(i+1)*p.cols])
	}
}

// Row writes row i of S into dst (cols values).
func (p *Packed) Row(i int, dst []float32) {
	if i < 0 || i >= p.rows || len(dst) != p.cols {
		panic(fmt.Sprintf("gemm: Row: row %d into %d values of a %d×%d matrix", i, len(dst), p.rows, p.cols))
	}
	if p.cols == 0 {
		return
	}
	src := p.panel(i / nr)[i%nr:]
	for c := range dst {
		dst[c] = src[c*nr]
	}
}

// Col writes column j of S into dst (rows values).
func (p *Packed) Col(j int, dst []float32) {
	if j < 0 || j >= p.cols || len(dst) != p.rows {
		panic(fmt.Sprintf("gemm: Col: column %d into %d values of a %d×%d matrix", j, len(dst), p.rows, p.cols))
	}
	for q := 0; q*nr < p.rows; q++ {
		copy(dst[q*nr:], p.panel(q)[j*nr:(j+1)*nr])
	}
}

// SgemmPacked is Sgemm with B held packed: op(B) is Sᵀ when transB (read in
// place, nothing packed) and S otherwise. op(B) must be k×n.
func SgemmPacked(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b *Packed, beta float32, c []float32, ldc int) {
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if b.rows != br || b.cols != bc {
		panic(fmt.Sprintf("gemm: SgemmPacked: B is %d×%d, want %d×%d (transB=%v, k=%d, n=%d)", b.rows, b.cols, br, bc, transB, k, n))
	}
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: SgemmPacked: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	checkMatrix("A", transA, ar, ac, a, lda)
	checkMatrix("C", false, m, n, c, ldc)
	if j := newJob(transA, transB, m, n, k, alpha, a, lda, nil, max(1, n), beta, c, ldc); j != nil {
		j.pb = b
		j.start()
	}
}

// direct reports whether B is read straight from a Packed.
func (j *job) direct() bool { return j.pb != nil && j.transB }

// directPanels returns the panels of the kcb-deep block of B at depth pc
// and columns from jc, read in place from j.pb.
func (j *job) directPanels(pc, jc int) bPanels {
	p := j.pb
	q0 := jc / nr
	bp := bPanels{stride: nr * p.cols, full: max(p.nfull-q0, 0), prefetch: true}
	if bp.full > 0 {
		bp.data = p.full[q0*nr*p.cols+pc*nr:]
	}
	if p.tail != nil {
		bp.tail = p.tail[pc*nr:]
	}
	return bp
}

// packFromPacked packs op(B)[pc:pc+kc, jc:jc+nc] = S[pc:pc+kc, jc:jc+nc]
// into dst as packB does, from the nr×nr blocks of j.pb (pc is a multiple
// of nr: see depthBlock). It reads one source panel at a time, front to
// back, so that the reads are a single stream.
func (j *job) packFromPacked(dst []float32, pc, kc, jc, nc int) {
	p, pack := j.pb, j.impl.packBT16
	for k0 := 0; k0 < kc; k0 += nr {
		rows := min(nr, kc-k0)
		src := p.panel((pc + k0) / nr)
		for jr := 0; jr < nc; jr += nr {
			cols := min(nr, nc-jr)
			dk := dst[jr*kc+k0*nr : jr*kc+(k0+rows)*nr]
			if cols == nr {
				// dk[i·nr+c] = src[(jc+jr+c)·nr + i]: the block, transposed.
				pack(dk, src, nr, jc+jr, 0, rows)
				continue
			}
			clear(dk)
			for c := range cols {
				col := src[(jc+jr+c)*nr:][:rows]
				for i, v := range col {
					dk[i*nr+c] = v
				}
			}
		}
	}
}

// bPanels locates the packed kc×nr panels of B that a macro-kernel reads:
// the i-th panel of its columns starts at data[i·stride] for i < full, and
// at tail after.
type bPanels struct {
	data   []float32
	stride int
	full   int
	tail   []float32
	// prefetch: the panels come from memory, not from a packing buffer
	// that was just written (and so is in cache): the macro-kernel asks
	// for the next panel while it multiplies by the current one.
	prefetch bool
}

// bufferPanels are the panels of a kcb-deep block packed into buf, one
// after the other.
func bufferPanels(buf []float32, kcb int) bPanels {
	return bPanels{data: buf, stride: kcb * nr, full: math.MaxInt}
}

func (b *bPanels) at(i int) *float32 {
	if i < b.full {
		return &b.data[i*b.stride]
	}
	return &b.tail[0]
}
