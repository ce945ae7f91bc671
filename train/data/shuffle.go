package data

import (
	"math/bits"
	"math/rand/v2"
)

// The PCG streams of the package's random choices, so that each use of a
// seed draws its own sequence.
const (
	streamSplit uint64 = 1       // train/validation split
	streamPack  uint64 = 2       // order of examples before packing
	streamEpoch uint64 = 1 << 32 // + epoch: the batcher's order of each epoch
)

// Shuffle permutes s in place with Fisher-Yates driven by a math/rand/v2 PCG
// seeded with (seed, stream). The result depends only on len(s), seed and
// stream: it is the same on every run, platform and Go version (the bounded
// draws are done here, not by math/rand).
func Shuffle[T any](s []T, seed, stream uint64) {
	src := rand.NewPCG(seed, stream)
	for i := len(s) - 1; i > 0; i-- {
		j := int(bounded(src, uint64(i+1)))
		s[i], s[j] = s[j], s[i]
	}
}

// Permutation returns 0..n-1 shuffled by Shuffle(p, seed, stream).
func Permutation(n int, seed, stream uint64) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	Shuffle(p, seed, stream)
	return p
}

// bounded draws uniformly from [0, n) (Lemire's multiply-and-reject method).
func bounded(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		threshold := -n % n
		for lo < threshold {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}
