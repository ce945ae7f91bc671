package gemm

// packBN packs full panels of a row-major B (see packBNGo): the assembly
// loop where the CPU runs it, since a 64-byte copy compiles to a call.
var packBN = packBNGo

func init() {
	if f := packBNFastFunc(); f != nil {
		packBN = f
	}
}

// packBNGo packs g full 16-column panels of a row-major (not transposed) B,
// starting at column j and row p0, kc rows deep: dst[(q·kc+p)·16+c] =
// b[(p0+p)·ldb+j+q·16+c]. Rows are read in runs of g·16 contiguous values,
// which the prefetchers follow.
func packBNGo(dst, b []float32, ldb, p0, kc, j, g int) {
	for p := 0; p < kc; p++ {
		src := b[(p0+p)*ldb+j:][:g*nr]
		for q := 0; q < g; q++ {
			*(*[nr]float32)(dst[q*nr*kc+p*nr:]) = *(*[nr]float32)(src[q*nr:])
		}
	}
}
