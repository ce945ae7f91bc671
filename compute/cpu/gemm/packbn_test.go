package gemm

import (
	"fmt"
	"testing"
)

// TestPackBNFast: the assembly packer writes what the Go one does.
func TestPackBNFast(t *testing.T) {
	fast := packBNFastFunc()
	if fast == nil {
		t.Skip("no assembly packer on this CPU")
	}
	for _, c := range []struct{ kc, g, ldb, p0, j int }{{1, 1, 16, 0, 0}, {7, 3, 61, 2, 5}, {256, 8, 768, 3, 16}, {13, 1, 33, 0, 17}} {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			b := make([]float32, (c.p0+c.kc)*c.ldb+c.j+c.g*nr)
			for i := range b {
				b[i] = float32(i) + 0.5
			}
			want, got := make([]float32, c.g*c.kc*nr), make([]float32, c.g*c.kc*nr)
			packBNGo(want, b, c.ldb, c.p0, c.kc, c.j, c.g)
			fast(got, b, c.ldb, c.p0, c.kc, c.j, c.g)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("dst[%d] = %v, want %v", i, got[i], want[i])
				}
			}
		})
	}
}
