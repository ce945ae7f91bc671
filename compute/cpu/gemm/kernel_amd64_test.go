//go:build amd64 && !purego

package gemm

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// TestKernelDispatch checks the assembly kernel is chosen exactly when the
// CPU has AVX2 and FMA.
func TestKernelDispatch(t *testing.T) {
	want := "go"
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		want = "avx2"
	}
	if got := Kernel(); got != want {
		t.Errorf("Kernel() = %q on a CPU with AVX2=%v FMA=%v, want %q", got, cpu.X86.HasAVX2, cpu.X86.HasFMA, want)
	}
}
