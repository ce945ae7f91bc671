//go:build amd64 && !purego

package quant

// Block decoders in AVX2 (decode_amd64.s); see the portable ones in
// matrix.go for what they compute.

//go:noescape
func decodeNF4AVX2(dst *float32, codes *byte, table *float32, absmax float32)

//go:noescape
func decodeInt8AVX2(dst *float32, q *byte, scale float32, n int)

//go:noescape
func decodeQ4_0AVX2(dst *float32, qs *byte, d float32)

// decodeNF4 writes the first len(dst) (at most 64) values of the NF4 block
// with the given codes and absmax.
func decodeNF4(dst []float32, codes []byte, absmax float32) {
	if haveAVX2 && len(dst) == NF4Block {
		_ = codes[nf4CodeBytes-1]
		decodeNF4AVX2(&dst[0], &codes[0], &nf4Codebook[0], absmax)
		return
	}
	decodeNF4Go(dst, codes, absmax)
}

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
