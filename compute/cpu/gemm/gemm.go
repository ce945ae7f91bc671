// Package gemm is a multithreaded single-precision matrix multiplication
// (SGEMM) for the CPU backend.
//
// The algorithm is the one of GotoBLAS/BLIS: the operands are cut into blocks
// that fit the caches, each block is packed into a contiguous buffer laid out
// in the order the micro-kernel reads it (the transposes are absorbed by the
// packing, so all four transA/transB combinations run the same fast path),
// and a register-blocked micro-kernel computes MR×NR tiles of C. On amd64 with
// AVX2 and FMA the micro-kernel is written in assembly; elsewhere (or when the
// features are missing, or with the purego build tag) a portable Go kernel is
// used.
//
// Work is split over Threads() goroutines: C is cut into a grid of
// independent rectangles, one per thread, each packing its own operands, so
// the threads never wait on each other. Small products run on the calling
// goroutine alone.
//
// SgemmDecode multiplies by a B held in a compact form (compute/quant's
// formats) that it decodes block by block straight into the packing
// buffers, so that B is never widened whole.
//
// All matrices are row-major; the semantics are those of BLAS sgemm.
package gemm

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Register tile (fixed by the micro-kernels) and cache blocking.
const (
	mr = 6  // rows of the micro-tile
	nr = 16 // columns of the micro-tile

	kcMax = 256  // depth of a packed block: an MR×KC panel of A and a KC×NR panel of B stay in L1
	mcMax = 144  // rows of a packed A block (MC×KC floats ≈ 144 KiB stays in L2); multiple of mr
	ncMax = 3072 // columns of a packed B block (KC×NC floats = 3 MiB, in the L3 share); multiple of nr

	// minWork is the least m·n·k one thread is given; below it a product is
	// not split further, since waking a worker costs a few microseconds.
	minWork = 1 << 20
)

// kernelFunc computes the mr×nr tile C = alpha·Â·B̂ + beta·C, where Â is a
// packed kc×mr panel (mr values per step of k) and B̂ a packed kc×nr panel
// (nr values per step). C rows are ldc elements apart. beta == 0 means C is
// only written, never read.
type kernelFunc func(kc int, a, b, c *float32, ldc int, alpha, beta float32)

// impl is a set of machine-specific routines.
type impl struct {
	name     string
	kernel   kernelFunc
	packBT16 func(d, b []float32, ldb, j, p0, kc int) // see packBT16Go
}

var (
	// portable is the pure-Go implementation, available everywhere.
	portable = impl{"go", kernelGo, packBT16Go}
	// best is the fastest implementation this CPU runs; kernel_amd64.go
	// replaces it at init when the CPU has AVX2 and FMA.
	best = portable
	// cur is the implementation in use: best, or portable when tests force
	// it.
	cur = &best
)

// Kernel returns the name of the micro-kernel in use: "avx2" or "go".
func Kernel() string { return cur.name }

var threads atomic.Int64 // 0 means runtime.GOMAXPROCS(0)

// SetThreads sets the number of goroutines Sgemm may use and returns the
// previous setting (as Threads would have reported it). n <= 0 restores the
// default, runtime.GOMAXPROCS(0) at the time of each call.
func SetThreads(n int) int {
	prev := Threads()
	if n < 0 {
		n = 0
	}
	threads.Store(int64(n))
	return prev
}

// Threads returns the number of goroutines Sgemm may use.
func Threads() int {
	if n := threads.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C, where op(A) is m×k, op(B) is
// k×n and C is m×n, all row-major.
//
// A is m×k with leading dimension lda when !transA, else k×m (op(A) = Aᵀ);
// B is k×n with leading dimension ldb when !transB, else n×k. C has leading
// dimension ldc. When beta == 0 the old contents of C are ignored (NaN or Inf
// in C do not propagate); when alpha == 0 or k == 0, A and B are not read.
//
// Inconsistent dimensions (negative sizes, a leading dimension shorter than a
// row, a slice too short for its matrix) are programming errors and panic.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if j := newJob(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); j != nil {
		j.start()
	}
}

// newJob returns a job from the pool set up for C = alpha·op(A)·op(B) +
// beta·C with B read from b (no decoder), or nil when there is nothing to
// multiply: an empty C, or alpha or k zero, where C has been scaled by beta.
func newJob(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) *job {
	if m == 0 || n == 0 {
		return nil
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return nil
	}
	j := jobPool.Get()
	j.transA, j.transB = transA, transB
	j.m, j.n, j.k = m, n, k
	j.alpha, j.beta = alpha, beta
	j.a, j.lda, j.b, j.ldb, j.c, j.ldc = a, lda, b, ldb, c, ldc
	j.dec, j.pdec, j.align, j.nunit = nil, nil, 1, nr
	j.pb = nil
	j.impl = cur
	return j
}

// start splits the job among the threads, runs it and returns the job to
// its pool.
func (j *job) start() {
	j.split(Threads())

	nt := j.tm * j.tn
	if nt > 1 {
		startWorkers(nt - 1)
		j.wg.Add(nt - 1)
		for t := 1; t < nt; t++ {
			workQueue <- task{j, t}
		}
	}
	j.run(0)
	if nt > 1 {
		j.wg.Wait()
	}

	j.a, j.b, j.c = nil, nil, nil // do not keep the caller's memory alive
	j.dec, j.pdec, j.pb = nil, nil, nil
	jobPool.Put(j)
}

// checkArgs panics with a message naming the offending argument when the
// dimensions are inconsistent.
func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: Sgemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMatrix("A", transA, ar, ac, a, lda)
	checkMatrix("B", transB, br, bc, b, ldb)
	checkMatrix("C", false, m, n, c, ldc)
}

func checkMatrix(name string, trans bool, rows, cols int, s []float32, ld int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("gemm: Sgemm: leading dimension of %s is %d, less than its %d columns (%s stored row-major)", name, ld, cols, shapeString(trans, rows, cols)))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		panic(fmt.Sprintf("gemm: Sgemm: %s is %s with leading dimension %d and needs %d elements, slice has %d", name, shapeString(trans, rows, cols), ld, need, len(s)))
	}
}

func shapeString(trans bool, rows, cols int) string {
	if trans {
		return fmt.Sprintf("%d×%d (transposed)", rows, cols)
	}
	return fmt.Sprintf("%d×%d", rows, cols)
}

// scaleC computes C = beta·C, with beta == 0 clearing C.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// job is one Sgemm call: its arguments and how C is split among threads.
// Jobs are pooled so that a call allocates nothing in steady state.
type job struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	impl           *impl

	// B decoded on the fly (SgemmDecode), or nil: B is read from b.
	dec   RowDecoder
	pdec  PanelDecoder // dec, when it can write packed panels itself
	align int          // columns of B's stored rows start on multiples of it
	nunit int          // the columns of C are split among threads in multiples of it (0: nr)

	// B held packed (SgemmPacked), or nil: B is read from b.
	pb *Packed

	tm, tn int // thread grid: C is cut into tm row bands × tn column bands
	wg     sync.WaitGroup
}

// freeList is a pool that never drops its items (sync.Pool empties itself
// at garbage collections, which would make a training step allocate again).
type freeList[T any] struct {
	mu    sync.Mutex
	items []*T
}

func (f *freeList[T]) Get() *T {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.items); n > 0 {
		it := f.items[n-1]
		f.items = f.items[:n-1]
		return it
	}
	return new(T)
}

func (f *freeList[T]) Put(it *T) {
	f.mu.Lock()
	f.items = append(f.items, it)
	f.mu.Unlock()
}

var jobPool freeList[job]

// split chooses the thread grid tm×tn (tm·tn <= maxThreads) that minimizes
// the estimated time of the slowest thread: its share of the multiply-adds,
// rounded up to whole micro-tiles, plus its packing of A and B.
func (j *job) split(maxThreads int) {
	j.tm, j.tn = 1, 1
	work := float64(j.m) * float64(j.n) * float64(j.k)
	limit := int(work / minWork)
	if limit < maxThreads {
		maxThreads = limit
	}
	if maxThreads <= 1 {
		return
	}
	nu := j.colUnit()
	mb, nb := ceilDiv(j.m, mr), ceilDiv(j.n, nu)
	// Packing moves each element once per use; weigh it like a few
	// multiply-adds' worth of time per element (memory bound). Decoding B
	// costs about three times as much as copying it. A B read in place
	// from a Packed is weighed the same as one packed: splitting its
	// columns still halves what each thread streams from memory.
	bw := 8.0
	if j.dec != nil {
		bw = 24
	}
	best := -1.0
	for t := 1; t <= maxThreads; t++ {
		for tm := 1; tm <= t; tm++ {
			if t%tm != 0 {
				continue
			}
			tn := t / tm
			if tm > mb || tn > nb {
				continue
			}
			rows := float64(ceilDiv(mb, tm) * mr)
			cols := float64(ceilDiv(nb, tn) * nu)
			kk := float64(j.k)
			aPacks := float64(ceilDiv(int(cols), ncMax))
			cost := rows*cols*kk + 8*rows*kk*aPacks + bw*cols*kk
			if best < 0 || cost < best*0.98 { // prefer fewer threads on near ties
				best, j.tm, j.tn = cost, tm, tn
			}
		}
	}
}

// colUnit is the unit in which the columns of C are split among threads:
// nr, or more for a decoded B (see job.nunit).
func (j *job) colUnit() int { return max(j.nunit, nr) }

// band returns the half-open range of the i-th of parts bands that split
// size elements in units of unit elements.
func band(size, unit, parts, i int) (lo, hi int) {
	blocks := ceilDiv(size, unit)
	per, extra := blocks/parts, blocks%parts
	lo = i*per + min(i, extra)
	hi = lo + per
	if i < extra {
		hi++
	}
	return min(lo*unit, size), min(hi*unit, size)
}

// run computes thread t's rectangle of C.
func (j *job) run(t int) {
	i0, i1 := band(j.m, mr, j.tm, t/j.tn)
	j0, j1 := band(j.n, j.colUnit(), j.tn, t%j.tn)
	if i0 >= i1 || j0 >= j1 {
		return
	}
	buf := bufPool.Get()
	if j.dec != nil {
		j.gemmBlockDecode(buf, i0, i1, j0, j1)
	} else {
		j.gemmBlock(buf, i0, i1, j0, j1)
	}
	bufPool.Put(buf)
}

// depthBlock is the depth of a block of A and B: even blocks (257 columns
// of depth become 129+128, not 256+1), starting on multiples of align when
// a decoded B is read along its stored rows.
func (j *job) depthBlock() int {
	kc := ceilDiv(j.k, ceilDiv(j.k, kcMax))
	if j.dec != nil && j.transB {
		kc = min(roundUp(kc, j.align), kcMax)
	}
	if j.pb != nil && !j.transB {
		kc = min(roundUp(kc, nr), kcMax) // whole nr×nr blocks of the Packed
	}
	return kc
}

// gemmBlock runs the blocked algorithm on the rectangle [i0,i1)×[j0,j1) of C.
func (j *job) gemmBlock(buf *packBuf, i0, i1, j0, j1 int) {
	k, kc := j.k, j.depthBlock()
	nc := roundUp(ceilDiv(j1-j0, ceilDiv(j1-j0, ncMax)), j.colUnit())
	mc := roundUp(ceilDiv(i1-i0, ceilDiv(i1-i0, mcMax)), mr)
	bufA := buf.a(roundUp(min(mc, i1-i0), mr) * kc)
	var bufB []float32
	if !j.direct() {
		bufB = buf.b(roundUp(min(nc, j1-j0), nr) * kc)
	}

	for jc := j0; jc < j1; jc += nc {
		ncb := min(nc, j1-jc)
		for pc := 0; pc < k; pc += kc {
			kcb := min(kc, k-pc)
			beta := j.beta
			if pc > 0 {
				beta = 1
			}
			bp := bufferPanels(bufB, kcb)
			switch {
			case j.direct():
				bp = j.directPanels(pc, jc)
			case j.pb != nil:
				j.packFromPacked(bufB, pc, kcb, jc, ncb)
			case j.dec != nil:
				j.packDecodedB(bufB, buf, pc, kcb, jc, ncb)
			default:
				packB(bufB, j.b, j.ldb, j.transB, pc, kcb, jc, ncb, j.impl.packBT16)
			}
			for ic := i0; ic < i1; ic += mc {
				mcb := min(mc, i1-ic)
				packA(bufA, j.a, j.lda, j.transA, ic, mcb, pc, kcb)
				j.macroKernel(bufA, &bp, &buf.tile, ic, mcb, jc, ncb, kcb, beta)
			}
		}
	}
}

// macroKernel multiplies the packed mcb×kcb block of A by the packed kcb×ncb
// block of B into C[ic:ic+mcb, jc:jc+ncb].
func (j *job) macroKernel(pa []float32, pb *bPanels, tile *[mr * nr]float32, ic, mcb, jc, ncb, kcb int, beta float32) {
	c, ldc, alpha, kern := j.c, j.ldc, j.alpha, j.impl.kernel
	for jr := 0; jr < ncb; jr += nr {
		nrb := min(nr, ncb-jr)
		bp := pb.at(jr / nr)
		if pb.prefetch && jr+nr < ncb {
			prefetchL2(pb.at(jr/nr+1), kcb) // kcb rows of 16 floats: kcb lines
		}
		for ir := 0; ir < mcb; ir += mr {
			mrb := min(mr, mcb-ir)
			ap := &pa[ir*kcb]
			off := (ic+ir)*ldc + jc + jr
			if mrb == mr && nrb == nr {
				_ = c[off+(mr-1)*ldc+nr-1] // the kernel writes up to here
				kern(kcb, ap, bp, &c[off], ldc, alpha, beta)
				continue
			}
			// Edge tile: compute the full tile aside, then merge the part
			// that exists.
			kern(kcb, ap, bp, &tile[0], nr, 1, 0)
			for i := 0; i < mrb; i++ {
				row := c[off+i*ldc : off+i*ldc+nrb]
				t := tile[i*nr : i*nr+nrb]
				if beta == 0 {
					for x := range row {
						row[x] = alpha * t[x]
					}
				} else {
					for x := range row {
						row[x] = alpha*t[x] + beta*row[x]
					}
				}
			}
		}
	}
}

// packA packs A[i0:i0+mc, p0:p0+kc] (of op(A)) into dst as consecutive
// micro-panels of mr rows: panel q holds, for each p, the mr values
// op(A)[i0+q·mr+r, p0+p]. Rows past mc are zero.
func packA(dst, a []float32, lda int, trans bool, i0, mc, p0, kc int) {
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		d := dst[ir*kc : ir*kc+mr*kc]
		i := i0 + ir
		switch {
		case !trans && rows == mr:
			packA6(d, a, lda, i, p0, kc)
		case !trans:
			clear(d)
			for r := 0; r < rows; r++ {
				src := a[(i+r)*lda+p0:][:kc]
				for p, v := range src {
					d[p*mr+r] = v
				}
			}
		case rows == mr:
			for p := 0; p < kc; p++ {
				s := a[(p0+p)*lda+i:][:mr:mr]
				q := d[p*mr : p*mr+mr : p*mr+mr]
				q[0], q[1], q[2], q[3], q[4], q[5] = s[0], s[1], s[2], s[3], s[4], s[5]
			}
		default:
			for p := 0; p < kc; p++ {
				q := d[p*mr : p*mr+mr : p*mr+mr]
				n := copy(q, a[(p0+p)*lda+i:][:rows])
				clear(q[n:])
			}
		}
	}
}

// packB packs B[p0:p0+kc, j0:j0+nc] (of op(B)) into dst as consecutive
// micro-panels of nr columns: panel q holds, for each p, the nr values
// op(B)[p0+p, j0+q·nr+c]. Columns past nc are zero.
func packB(dst, b []float32, ldb int, trans bool, p0, kc, j0, nc int, packBT16 func(d, b []float32, ldb, j, p0, kc int)) {
	jr := 0
	if !trans {
		// Full panels, a group at a time: each row of B is read in runs of
		// group·nr contiguous values, which the prefetchers follow.
		const group = 8
		full := nc / nr * nr
		for jr < full {
			g := min(group, (full-jr)/nr)
			packBN(dst[jr*kc:], b, ldb, p0, kc, j0+jr, g)
			jr += g * nr
		}
	}
	for ; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		d := dst[jr*kc : jr*kc+nr*kc]
		j := j0 + jr
		if !trans {
			for p := 0; p < kc; p++ {
				q := d[p*nr : p*nr+nr : p*nr+nr]
				n := copy(q, b[(p0+p)*ldb+j:][:cols])
				clear(q[n:])
			}
			continue
		}
		if cols == nr {
			packBT16(d, b, ldb, j, p0, kc)
			continue
		}
		clear(d)
		for c := 0; c < cols; c++ {
			src := b[(j+c)*ldb+p0:][:kc]
			dc := d[c:]
			for p, v := range src {
				dc[p*nr] = v
			}
		}
	}
}

// packBT16Go packs 16 full columns of a transposed B: d[p·16+c] =
// b[(j+c)·ldb+p0+p] for p < kc. Gathering one row of the panel at a time
// keeps the stores sequential.
func packBT16Go(d, b []float32, ldb, j, p0, kc int) {
	r0 := b[(j+0)*ldb+p0:][:kc:kc]
	r1 := b[(j+1)*ldb+p0:][:kc:kc]
	r2 := b[(j+2)*ldb+p0:][:kc:kc]
	r3 := b[(j+3)*ldb+p0:][:kc:kc]
	r4 := b[(j+4)*ldb+p0:][:kc:kc]
	r5 := b[(j+5)*ldb+p0:][:kc:kc]
	r6 := b[(j+6)*ldb+p0:][:kc:kc]
	r7 := b[(j+7)*ldb+p0:][:kc:kc]
	r8 := b[(j+8)*ldb+p0:][:kc:kc]
	r9 := b[(j+9)*ldb+p0:][:kc:kc]
	r10 := b[(j+10)*ldb+p0:][:kc:kc]
	r11 := b[(j+11)*ldb+p0:][:kc:kc]
	r12 := b[(j+12)*ldb+p0:][:kc:kc]
	r13 := b[(j+13)*ldb+p0:][:kc:kc]
	r14 := b[(j+14)*ldb+p0:][:kc:kc]
	r15 := b[(j+15)*ldb+p0:][:kc:kc]
	d = d[:kc*nr]
	for p := range r0 {
		q := (*[nr]float32)(d[p*nr:])
		q[0], q[1], q[2], q[3] = r0[p], r1[p], r2[p], r3[p]
		q[4], q[5], q[6], q[7] = r4[p], r5[p], r6[p], r7[p]
		q[8], q[9], q[10], q[11] = r8[p], r9[p], r10[p], r11[p]
		q[12], q[13], q[14], q[15] = r12[p], r13[p], r14[p], r15[p]
	}
}

// packBuf holds one thread's packing buffers; they grow to the largest size
// asked for and are reused through bufPool.
type packBuf struct {
	ra, rb, rs []float32 // raw allocations
	pa, pb, ps []float32 // 64-byte aligned views
	tile       [mr * nr]float32
}

var bufPool freeList[packBuf]

// a is the buffer of A: a block of mcMax×kcMax values, or up to
// aStreamMax when SgemmDecode streams B (allocated at that size at once, so
// that it never regrows).
func (p *packBuf) a(n int) []float32 { return grow(&p.ra, &p.pa, n, max(mcMax*kcMax, aStreamMax)) }
func (p *packBuf) b(n int) []float32 { return grow(&p.rb, &p.pb, n, ncMax*kcMax) }

// s is the scratch of SgemmDecode: nr rows of a depth block, or one row of
// a column block.
func (p *packBuf) s(n int) []float32 { return grow(&p.rs, &p.ps, n, scratchMax) }

// grow returns a 64-byte aligned slice of n floats backed by *raw, which is
// reallocated if too small. It allocates the full block size (full) at
// once, so that buffers taken from the pool in any order never regrow: a
// training step then allocates nothing.
func grow(raw, view *[]float32, n, full int) []float32 {
	if len(*view) < n {
		n := max(n, full)
		*raw = make([]float32, n+16)
		off := 0
		if mis := uintptr(unsafe.Pointer(&(*raw)[0])) & 63; mis != 0 {
			off = int(64-mis) / 4
		}
		*view = (*raw)[off : off+n]
	}
	return (*view)[:n]
}

// Worker pool: goroutines started on demand and kept for the life of the
// process, so that a call does not create goroutines (nor allocate).
type task struct {
	j *job
	t int
}

var (
	workQueue   = make(chan task, 256)
	workerMu    sync.Mutex
	workerCount atomic.Int64
)

// startWorkers makes sure at least n workers exist.
func startWorkers(n int) {
	if int(workerCount.Load()) >= n {
		return
	}
	workerMu.Lock()
	for int(workerCount.Load()) < n {
		go worker()
		workerCount.Add(1)
	}
	workerMu.Unlock()
}

func worker() {
	for w := range workQueue {
		w.j.run(w.t)
		w.j.wg.Done()
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func roundUp(a, b int) int { return ceilDiv(a, b) * b }
