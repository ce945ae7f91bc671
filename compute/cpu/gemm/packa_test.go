package gemm

import (
	"fmt"
	"math"
	"testing"
)

// TestPackA6Fast: the assembly packer writes what the Go one does, for depths
// with and without a remainder of 8, and nothing past the panel.
func TestPackA6Fast(t *testing.T) {
	fast := packA6FastFunc()
	if fast == nil {
		t.Skip("no assembly packer on this CPU")
	}
	for _, c := range []struct{ kc, lda, i, p0 int }{{1, 9, 0, 0}, {8, 8, 0, 0}, {16, 33, 2, 5}, {23, 61, 7, 3}, {256, 768, 6, 256}, {255, 300, 1, 45}} {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			a := make([]float32, (c.i+mr)*c.lda)
			for i := range a {
				a[i] = float32(i) + 0.5
			}
			want := make([]float32, c.kc*mr)
			packA6Go(want, a, c.lda, c.i, c.p0, c.kc)
			got := make([]float32, c.kc*mr+8)
			sentinel := float32(math.Inf(-1))
			for i := range got {
				got[i] = sentinel
			}
			fast(got[:c.kc*mr], a, c.lda, c.i, c.p0, c.kc)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("dst[%d] = %v, want %v", i, got[i], want[i])
				}
			}
			for i := c.kc * mr; i < len(got); i++ {
				if got[i] != sentinel {
					t.Fatalf("wrote dst[%d] past the panel's %d values", i, c.kc*mr)
				}
			}
		})
	}
}
