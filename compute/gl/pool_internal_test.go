//go:build cgo && linux

package gl

import "testing"

// TestSizeClass checks the pool's size classes: a class holds the size,
// wastes at most a fifth of itself, is its own class, and classes grow
// with the size.
func TestSizeClass(t *testing.T) {
	prev := 0
	for n := 1; n < 1<<22; n += 1 + n/97 {
		c := sizeClass(n)
		if c < n || (n > 256 && 5*(c-n) > c) {
			t.Fatalf("sizeClass(%d) = %d", n, c)
		}
		if sizeClass(c) != c {
			t.Fatalf("sizeClass(%d) = %d, but sizeClass(%d) = %d", n, c, c, sizeClass(c))
		}
		if c < prev {
			t.Fatalf("sizeClass(%d) = %d, less than %d for a smaller size", n, c, prev)
		}
		prev = c
	}
	for _, c := range []struct{ n, want int }{{4, 256}, {256, 256}, {257, 320}, {512, 512}, {513, 640}, {1 << 20, 1 << 20}, {1<<20 + 1, 1<<20 + 1<<18}} {
		if got := sizeClass(c.n); got != c.want {
			t.Errorf("sizeClass(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}
