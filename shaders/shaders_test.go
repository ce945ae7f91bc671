package shaders

import (
	"strings"
	"testing"
)

// TestSources checks that every kernel file the GL backend compiles is
// embedded, carries its kernels' #error guard or a main, and that unknown
// names are an error.
func TestSources(t *testing.T) {
	for _, c := range []struct {
		name, want string
	}{
		{"common.glsl", "wgSum"},
		{"dequant.glsl", "float wload("},
		{"matmul.glsl", "void main()"},
		{"elementwise.glsl", "OP_SPLITK"},
		{"norm.glsl", "COLSUM_FINISH"},
		{"rope.glsl", "INVERSE"},
		{"attention.glsl", "SOFTMAX_BACK"},
		{"crossentropy.glsl", "HAS_D"},
		{"embedding.glsl", "SCATTER_ADD"},
		{"optim.glsl", "ADAMW"},
		{"reduce.glsl", "SUMSQ"},
	} {
		src, err := Source(c.name)
		if err != nil {
			t.Errorf("Source(%q): %v", c.name, err)
			continue
		}
		if !strings.Contains(src, c.want) {
			t.Errorf("Source(%q) lacks %q", c.name, c.want)
		}
	}
	if len(Names()) != 11 {
		t.Errorf("Names() = %v, want the 11 files above", Names())
	}
	if _, err := Source("nope.glsl"); err == nil {
		t.Error(`Source("nope.glsl") gave no error`)
	}
}
