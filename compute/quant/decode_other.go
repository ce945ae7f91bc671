//go:build !amd64 || purego

package quant

// decodeInt8 sets dst[i] = float32(int8(q[i]))·scale.
func decodeInt8(dst []float32, q []byte, scale float32) { decodeInt8Go(dst, q, scale) }

// decodeQ4_0 writes the first len(dst) (at most 32) values of the Q4_0
// block with the given 16 bytes and scale.
func decodeQ4_0(dst []float32, qs []byte, d float32) { decodeQ4_0Go(dst, qs, d) }

// nf4Run decodes the n whole NF4 blocks k, k+1, ... into dst in groups of
// 16 values stride apart (see DecodeRowPanels).
func (m *Matrix) nf4Run(dst []float32, k, n, stride int) { m.nf4RunGo(dst, k, n, stride) }

// q8Run decodes the n whole Q8 blocks at the start of blocks into dst in
// groups of 16 values stride apart (see DecodeRowPanels).
func q8Run(dst []float32, blocks []byte, n, stride int) { q8RunGo(dst, blocks, n, stride) }
