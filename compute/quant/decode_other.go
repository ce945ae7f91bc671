//go:build !amd64 || purego

package quant

// decodeNF4 writes the first len(dst) (at most 64) values of the NF4 block
// with the given codes and absmax.
func decodeNF4(dst []float32, codes []byte, absmax float32) { decodeNF4Go(dst, codes, absmax) }

// decodeInt8 sets dst[i] = float32(int8(q[i]))·scale.
func decodeInt8(dst []float32, q []byte, scale float32) { decodeInt8Go(dst, q, scale) }

// decodeQ4_0 writes the first len(dst) (at most 32) values of the Q4_0
// block with the given 16 bytes and scale.
func decodeQ4_0(dst []float32, qs []byte, d float32) { decodeQ4_0Go(dst, qs, d) }
