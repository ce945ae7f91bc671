package quant

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fynetune/fynetune/compute"
)

// TestQuantizeFromMatchesQuantize: quantizing a matrix a chunk of rows at a
// time gives the same payload as quantizing it whole, for every format,
// chunk sizes that do not divide the rows, and rows that end in a partial
// block (NF4's double-quantized scales span chunks).
func TestQuantizeFromMatchesQuantize(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, dt := range []compute.DType{compute.F16, compute.BF16, compute.Q8, compute.NF4, compute.Q8_0, compute.Q4_0} {
		for _, shape := range [][2]int{{37, 100}, {300, 64}, {5, 1000}} {
			rows, cols := shape[0], shape[1]
			src := make([]float32, rows*cols)
			for i := range src {
				src[i] = float32(rng.NormFloat64())
			}
			want := Quantize(dt, src, rows, cols)
			for _, chunk := range []int{1, 7, rows, 10 * rows} {
				t.Run(fmt.Sprintf("%v/%dx%d/chunk=%d", dt, rows, cols, chunk), func(t *testing.T) {
					next := 0
					got := QuantizeFrom(dt, rows, cols, chunk, func(r0, r1 int, buf []float32) {
						if r0 != next || r1-r0 > chunk || len(buf) != (r1-r0)*cols {
							t.Fatalf("fill(%d, %d, %d values) after row %d", r0, r1, len(buf), next)
						}
						copy(buf, src[r0*cols:r1*cols])
						next = r1
					})
					if next != rows {
						t.Fatalf("filled %d of %d rows", next, rows)
					}
					if !bytes.Equal(got, want) {
						t.Fatal("payload differs from Quantize's")
					}
				})
			}
		}
	}
}
