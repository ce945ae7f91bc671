package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func BenchmarkPackBT(b *testing.B) {
	const n, k = 2304, 768
	src := make([]float32, n*k)
	dst := make([]float32, 256*n)
	for b.Loop() {
		for p0 := 0; p0 < k; p0 += 256 {
			packB(dst, src, k, true, p0, 256, 0, n, cur.packBT16)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n*k), "ns/elem")
}

func BenchmarkKernelHot(b *testing.B) {
	const kc = 256
	pa := make([]float32, kc*mr)
	pb := make([]float32, kc*nr)
	c := make([]float32, mr*nr)
	for b.Loop() {
		for i := 0; i < 100; i++ {
			cur.kernel(kc, &pa[0], &pb[0], &c[0], nr, 1, 1)
		}
	}
	b.ReportMetric(2*mr*nr*kc*100*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkPackBN(b *testing.B) {
	const n, k = 2304, 768
	src := make([]float32, n*k)
	dst := make([]float32, 256*n)
	for b.Loop() {
		for p0 := 0; p0 < k; p0 += 256 {
			packB(dst, src, n, false, p0, 256, 0, n, cur.packBT16)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n*k), "ns/elem")
}

func BenchmarkPackA(b *testing.B) {
	const m, k = 144, 768
	for _, trans := range []bool{false, true} {
		b.Run(map[bool]string{false: "N", true: "T"}[trans], func(b *testing.B) {
			src := make([]float32, m*k)
			dst := make([]float32, 256*m)
			ld := k
			if trans {
				ld = m
			}
			for b.Loop() {
				for p0 := 0; p0 < k; p0 += 256 {
					packA(dst, src, ld, trans, 0, m, p0, 256)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(m*k), "ns/elem")
		})
	}
}

func BenchmarkSgemm(b *testing.B) {
	cases := []struct {
		name           string
		transA, transB bool
		m, n, k        int
	}{
		{"xWt_512x2304x768", false, true, 512, 2304, 768},
		{"NN_2048", false, false, 2048, 2048, 2048},
		{"NN_512x768x768", false, false, 512, 768, 768},
		{"TN_768x768x512", true, false, 768, 768, 512}, // weight gradient xᵀ·dy
	}
	threadCounts := []int{1, 2}
	if n := Threads(); n > 2 {
		threadCounts = append(threadCounts, n)
	}
	for _, c := range cases {
		for _, th := range threadCounts {
			b.Run(fmt.Sprintf("%s/%s/threads=%d", c.name, Kernel(), th), func(b *testing.B) {
				defer SetThreads(SetThreads(th))
				r := rand.New(rand.NewPCG(5, 6))
				x := randSlice(r, c.m*c.k)
				w := randSlice(r, c.k*c.n)
				y := make([]float32, c.m*c.n)
				lda, ldb := c.k, c.n
				if c.transA {
					lda = c.m
				}
				if c.transB {
					ldb = c.k
				}
				b.ResetTimer()
				for b.Loop() {
					Sgemm(c.transA, c.transB, c.m, c.n, c.k, 1, x, lda, w, ldb, 0, y, c.n)
				}
				flops := 2 * float64(c.m) * float64(c.n) * float64(c.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestPack checks the packed layouts against their definitions, zero padding
// included, for every implementation and both storage orders.
func TestPack(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	const rows, cols = 50, 70 // the stored matrix; ld = cols + 3
	const ld = cols + 3
	src := randSlice(r, rows*ld)
	// at(trans, i, p) is op(M)[i, p] where M is the stored matrix.
	at := func(trans bool, i, p int) float32 {
		if trans {
			return src[p*ld+i]
		}
		return src[i*ld+p]
	}
	for _, im := range impls() {
		for _, trans := range []bool{false, true} {
			// op(M) is rows×cols when !trans, cols×rows when trans.
			opRows, opCols := rows, cols
			if trans {
				opRows, opCols = cols, rows
			}
			for _, blk := range [][4]int{{0, opRows, 0, opCols}, {3, 13, 5, 17}, {1, 6, 2, 8}, {7, 1, 0, 1}} {
				i0, mc, p0, kc := blk[0], blk[1], blk[2], blk[3]
				dst := randSlice(r, roundUp(mc, mr)*kc) // garbage that must be overwritten
				packA(dst, src, ld, trans, i0, mc, p0, kc)
				for i := 0; i < roundUp(mc, mr); i++ {
					for p := 0; p < kc; p++ {
						var want float32
						if i < mc {
							want = at(trans, i0+i, p0+p)
						}
						if got := dst[(i/mr)*mr*kc+p*mr+i%mr]; got != want {
							t.Fatalf("%s: packA(trans=%v, %v): row %d, k %d = %v, want %v", im.name, trans, blk, i, p, got, want)
						}
					}
				}
				// The same stored matrix as B: op(B) = op(M) is k×n.
				p0b, kcb, j0, nc := blk[0], blk[1], blk[2], blk[3]
				dst = randSlice(r, roundUp(nc, nr)*kcb)
				withImpl(im, func() { packB(dst, src, ld, trans, p0b, kcb, j0, nc, cur.packBT16) })
				for j := 0; j < roundUp(nc, nr); j++ {
					for p := 0; p < kcb; p++ {
						var want float32
						if j < nc {
							want = at(trans, p0b+p, j0+j)
						}
						if got := dst[(j/nr)*nr*kcb+p*nr+j%nr]; got != want {
							t.Fatalf("%s: packB(trans=%v, p0=%d kc=%d j0=%d nc=%d): k %d, col %d = %v, want %v", im.name, trans, p0b, kcb, j0, nc, p, j, got, want)
						}
					}
				}
			}
		}
	}
}

// BenchmarkWeightProduct compares, for the products of a training step by a
// frozen weight W [out, in] (x·Wᵀ forward, dy·W backward), Sgemm reading W
// as stored against SgemmPacked reading W packed once: the head's chunk of
// 128 rows over GPT-2's vocabulary, and a layer's c_attn over 512 tokens.
func BenchmarkWeightProduct(b *testing.B) {
	cases := []struct {
		name          string
		rows, out, in int
	}{
		{"head_128x50257x768", 128, 50257, 768},
		{"layer_512x2304x768", 512, 2304, 768},
	}
	for _, c := range cases {
		r := rand.New(rand.NewPCG(5, 6))
		w := randSlice(r, c.out*c.in)
		p := Pack(w, c.out, c.in, false)
		x, y := randSlice(r, c.rows*c.in), make([]float32, c.rows*c.out)
		dy, dx := randSlice(r, c.rows*c.out), make([]float32, c.rows*c.in)
		flops := 2 * float64(c.rows) * float64(c.out) * float64(c.in)
		run := func(name string, f func()) {
			b.Run(c.name+"/"+name, func(b *testing.B) {
				for b.Loop() {
					f()
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		run("forward/stored", func() { Sgemm(false, true, c.rows, c.out, c.in, 1, x, c.in, w, c.in, 0, y, c.out) })
		run("forward/packed", func() { SgemmPacked(false, true, c.rows, c.out, c.in, 1, x, c.in, p, 0, y, c.out) })
		run("backward/stored", func() { Sgemm(false, false, c.rows, c.in, c.out, 1, dy, c.out, w, c.in, 0, dx, c.in) })
		run("backward/packed", func() { SgemmPacked(false, false, c.rows, c.in, c.out, 1, dy, c.out, p, 0, dx, c.in) })
	}
}
