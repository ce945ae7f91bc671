package hugepage

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// advise marks the whole 2 MiB pages inside s for transparent huge pages.
// Errors are ignored: the advice is an optimization the kernel may refuse.
func advise(s []float32) {
	const page = 2 << 20
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	end := p + uintptr(len(s))*4
	lo, hi := (p+page-1)&^(page-1), end&^(page-1)
	if hi <= lo {
		return
	}
	_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Pointer(lo)), hi-lo), unix.MADV_HUGEPAGE)
}
