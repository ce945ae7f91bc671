//go:build amd64 && !purego

package quant

// Block decoders in AVX2 (decode_amd64.s); see the portable ones in
// matrix.go for what they compute.

//go:noescape
func decodeInt8AVX2(dst *float32, q *byte, scale float32, n int)

//go:noescape
func decodeQ4_0AVX2(dst *float32, qs *byte, d float32)

// decodeInt8 sets dst[i] = float32(int8(q[i]))·scale.
func decodeInt8(dst []float32, q []byte, scale float32) {
	q = q[:len(dst)]
	n := 0
	if haveAVX2 {
		n = len(dst) &^ 7
		if n > 0 {
			decodeInt8AVX2(&dst[0], &q[0], scale, n)
		}
	}
	decodeInt8Go(dst[n:], q[n:], scale)
}

// decodeQ4_0 writes the first len(dst) (at most 32) values of the Q4_0
// block with the given 16 bytes and scale.
func decodeQ4_0(dst []float32, qs []byte, d float32) {
	if haveAVX2 && len(dst) == Q4_0Block {
		_ = qs[Q4_0Block/2-1]
		decodeQ4_0AVX2(&dst[0], &qs[0], d)
		return
	}
	decodeQ4_0Go(dst, qs, d)
}

//go:noescape
func decodeNF4RunAVX2(dst *float32, codes *byte, scales *byte, table *float32, n int, stride int, double int, s127 float32, offset float32)

//go:noescape
func decodeQ8RunAVX2(dst *float32, blocks *byte, n int, stride int)

// nf4Run decodes the n whole NF4 blocks k, k+1, ... into dst in groups of
// 16 values stride apart (see DecodeRowPanels).
func (m *Matrix) nf4Run(dst []float32, k, n, stride int) {
	if n == 0 {
		return
	}
	if !haveAVX2 {
		m.nf4RunGo(dst, k, n, stride)
		return
	}
	_ = dst[(4*n-1)*stride+15] // the last value the assembly writes
	_ = m.codes[(k+n)*nf4CodeBytes-1]
	if !m.double {
		_ = m.scales[4*(k+n)-1]
		decodeNF4RunAVX2(&dst[0], &m.codes[k*nf4CodeBytes], &m.scales[4*k], &nf4Codebook[0], n, 4*stride, 0, 0, 0)
		return
	}
	_ = m.scales[k+n-1]
	for n > 0 {
		// A run within one group of blocks shares its second-level scale.
		c := min(n, DoubleQuantGroup-k%DoubleQuantGroup)
		s127 := getF32(m.groups[4*(k/DoubleQuantGroup):]) / 127
		decodeNF4RunAVX2(&dst[0], &m.codes[k*nf4CodeBytes], &m.scales[k], &nf4Codebook[0], c, 4*stride, 1, s127, m.offset)
		k, n = k+c, n-c
		if n > 0 {
			dst = dst[4*c*stride:]
		}
	}
}

// q8Run decodes the n whole Q8 blocks at the start of blocks into dst in
// groups of 16 values stride apart (see DecodeRowPanels).
func q8Run(dst []float32, blocks []byte, n, stride int) {
	if n == 0 {
		return
	}
	if !haveAVX2 {
		q8RunGo(dst, blocks, n, stride)
		return
	}
	_ = dst[(4*n-1)*stride+15]
	_ = blocks[n*q8BlockBytes-1]
	decodeQ8RunAVX2(&dst[0], &blocks[0], n, 4*stride)
}
