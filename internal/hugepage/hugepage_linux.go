package hugepage

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// advise marks the whole 2 MiB pages inside s for transparent huge pages.
// Errors are ignored: the advice is an optimization the kernel may refuse.
func advise(s []float32) {
	const page = 2 << 20
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*4)
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := int((p+page-1)&^(page-1) - p) // offset of the first whole page
	hi := lo + (len(b)-lo)/page*page
	if hi <= lo {
		return
	}
	_ = unix.Madvise(b[lo:hi], unix.MADV_HUGEPAGE)
}
