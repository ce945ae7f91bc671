package gemm

import "fmt"

// RowDecoder is a matrix held in a compact form (compute/quant's Matrix)
// that SgemmDecode widens a piece at a time.
type RowDecoder interface {
	// DecodeRow writes the values of row row, columns col ..
	// col+len(dst)-1, into dst. SgemmDecode calls it from several
	// goroutines at once, with col a multiple of its align argument.
	DecodeRow(dst []float32, row, col int)
}

// PanelDecoder is a RowDecoder that can write a piece of a row straight
// into the packed layout of B, which saves SgemmDecode a copy when B is not
// transposed.
type PanelDecoder interface {
	RowDecoder
	// DecodeRowPanels writes the values of row row, columns col ..
	// col+n-1, into dst in groups of PanelWidth: value i goes to
	// dst[(i/PanelWidth)·stride + i%PanelWidth]. col is as for DecodeRow.
	DecodeRowPanels(dst []float32, row, col, n, stride int)
}

// PanelWidth is the number of columns of op(B) in one packed panel.
const PanelWidth = nr

// scratchMax is the size of SgemmDecode's scratch: nr rows of kcMax
// values (transposed B) or one row of ncMax values (B as stored).
const scratchMax = max(nr*kcMax, ncMax)

// aStreamMax is the most values of A that SgemmDecode packs at once when it
// streams B (288 KiB: the L2 cache holds it); at least one depth block is
// packed whatever the rows.
const aStreamMax = 2 * mcMax * kcMax

// SgemmDecode is Sgemm with A not transposed and B held by a RowDecoder: it
// computes C = alpha·A·op(B) + beta·C, where A is m×k (leading dimension
// lda), C is m×n (leading dimension ldc), and B is k×n (op(B) = B) or, with
// transB, n×k (op(B) = Bᵀ), as dec stores it.
//
// B is never widened whole: each thread decodes the blocks of op(B) it
// packs straight into its packing buffers (a few hundred KiB), so the
// product costs no memory beyond Sgemm's and reads the compact form once
// per band of C rows a thread computes. dec's DecodeRow is only asked for
// pieces of rows that start on a multiple of align, which must divide 256
// (the block sizes of compute/quant: 1, 32, 64).
func SgemmDecode(transB bool, m, n, k int, alpha float32, a []float32, lda int, dec RowDecoder, align int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: SgemmDecode: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	if dec == nil {
		panic("gemm: SgemmDecode: B is nil")
	}
	if align < 1 || kcMax%align != 0 {
		panic(fmt.Sprintf("gemm: SgemmDecode: align %d does not divide %d", align, kcMax))
	}
	checkMatrix("A", false, m, k, a, lda)
	checkMatrix("C", false, m, n, c, ldc)
	j := newJob(false, transB, m, n, k, alpha, a, lda, nil, 0, beta, c, ldc)
	if j == nil {
		return
	}
	j.dec, j.align = dec, align
	j.pdec, _ = dec.(PanelDecoder)
	if !transB {
		// The columns of C are the columns of B's rows: each thread's
		// share starts on a multiple of align (a power of two).
		j.nunit = max(nr, align)
	}
	j.start()
}

// gemmBlockDecode is gemmBlock for a decoded B.
//
// When B is transposed and the thread's rows of C fit one block of A (the
// LM head's chunks of rows, the forward products of small batches), B is
// streamed: A is packed across as much of the depth as aStreamMax allows,
// and each panel of nr rows of the stored B is decoded through that whole
// depth, one depth block at a time, right before the micro-kernels use it.
// The panel never leaves the L1 cache, and the stored rows are read from
// start to end (16 sequential streams) rather than revisited once per depth
// block. Otherwise gemmBlock runs, each block of B decoded whole
// (packDecodedB) and then used by every block of A.
func (j *job) gemmBlockDecode(buf *packBuf, i0, i1, j0, j1 int) {
	k, kc := j.k, j.depthBlock()
	mc := roundUp(ceilDiv(i1-i0, ceilDiv(i1-i0, mcMax)), mr)
	if j.transB && i1-i0 <= mc {
		scratch := buf.s(scratchMax)
		mt := roundUp(i1-i0, mr)
		ks := max(kc, aStreamMax/mt/kc*kc) // depth of A packed at once
		bufA := buf.a(mt * min(ks, k))
		bufB := buf.b(nr * kc)
		for ks0 := 0; ks0 < k; ks0 += ks {
			kend := min(ks0+ks, k)
			for pc := ks0; pc < kend; pc += kc {
				packA(bufA[(pc-ks0)*mt:], j.a, j.lda, false, i0, i1-i0, pc, min(kc, kend-pc))
			}
			for jr := j0; jr < j1; jr += nr {
				nrb := min(nr, j1-jr)
				for pc := ks0; pc < kend; pc += kc {
					kcb := min(kc, kend-pc)
					beta := j.beta
					if pc > 0 {
						beta = 1
					}
					j.decodeBT(bufB, scratch, pc, kcb, jr, nrb)
					bp := bufferPanels(bufB, kcb)
					j.macroKernel(bufA[(pc-ks0)*mt:], &bp, &buf.tile, i0, i1-i0, jr, nrb, kcb, beta)
				}
			}
		}
		return
	}

	j.gemmBlock(buf, i0, i1, j0, j1)
}

// packDecodedB is packB for a decoded B: the block of op(B) at depth
// [p0, p0+kc) and columns [j0, j0+nc), decoded into dst in packB's layout.
func (j *job) packDecodedB(dst []float32, buf *packBuf, p0, kc, j0, nc int) {
	scratch := buf.s(scratchMax)
	if !j.transB {
		j.decodeB(dst, scratch, p0, kc, j0, nc)
		return
	}
	for jr := 0; jr < nc; jr += nr {
		j.decodeBT(dst[jr*kc:], scratch, p0, kc, j0+jr, min(nr, nc-jr))
	}
}

// decodeBT packs one panel of a transposed decoded B: dst[p·nr+c] =
// B[j0+c, p0+p] for p < kc, zero for c >= cols. The rows are decoded into
// scratch (nr×kc values, in L1) and transposed from there.
func (j *job) decodeBT(dst, scratch []float32, p0, kc, j0, cols int) {
	s := scratch[:nr*kc]
	for c := range cols {
		j.dec.DecodeRow(s[c*kc:(c+1)*kc], j0+c, p0)
	}
	clear(s[cols*kc:])
	j.impl.packBT16(dst[:nr*kc], s, kc, 0, 0, kc)
}

// decodeB packs B[p0:p0+kc, j0:j0+nc] of a decoded B as stored (see
// packB): row p of the block lands in every panel at p·nr.
func (j *job) decodeB(dst, scratch []float32, p0, kc, j0, nc int) {
	dst = dst[:roundUp(nc, nr)*kc]
	full := nc / nr * nr
	clear(dst[full*kc:]) // the columns past nc of the last panel are zero
	stride := nr * kc
	if j.pdec != nil {
		for p := range kc {
			j.pdec.DecodeRowPanels(dst[p*nr:], p0+p, j0, nc, stride)
		}
		return
	}
	row := scratch[:nc]
	for p := range kc {
		j.dec.DecodeRow(row, p0+p, j0)
		d := dst[p*nr:]
		for q := 0; q < full; q += nr {
			*(*[nr]float32)(d[q*kc:]) = *(*[nr]float32)(row[q:])
		}
		if full < nc {
			copy(d[full*kc:full*kc+nr], row[full:nc])
		}
	}
}
