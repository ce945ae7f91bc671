package hugepage

import "testing"

// TestMake: buffers of every size come back zeroed, of the asked length,
// and writable (the advice must not break a buffer of any alignment).
func TestMake(t *testing.T) {
	for _, n := range []int{0, 1, Min - 1, Min, 3*Min + 5} {
		s := Make(n)
		if len(s) != n {
			t.Fatalf("Make(%d) has %d values", n, len(s))
		}
		for i := range s {
			if s[i] != 0 {
				t.Fatalf("Make(%d)[%d] = %v", n, i, s[i])
			}
			s[i] = float32(i)
		}
		for i := range s {
			if s[i] != float32(i) {
				t.Fatalf("Make(%d)[%d] reads %v after writing %d", n, i, s[i], i)
			}
		}
	}
}
