//go:build !amd64 || purego

package quant

// decodeF16 sets dst[i] to the binary16 value at src[2i:].
func decodeF16(dst []float32, src []byte) { decodeF16Go(dst, src) }

// decodeBF16 sets dst[i] to the bfloat16 value at src[2i:].
func decodeBF16(dst []float32, src []byte) { decodeBF16Go(dst, src) }
