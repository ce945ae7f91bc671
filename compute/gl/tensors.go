//go:build cgo && linux

package gl

import (
	"fmt"
	"unsafe"

	"github.com/fynetune/fynetune/compute"
	"github.com/go-gl/gl/v4.3-core/gl"
)

// dev returns t's buffer, checking that t is a tensor of this backend whose
// elements lie inside it.
func (b *Backend) dev(op, arg string, t *compute.Tensor) *buffer {
	if t == nil {
		panic(fmt.Sprintf("gl: %s: %s is nil", op, arg))
	}
	d, ok := t.Dev.(*buffer)
	if !ok || d.owner != b {
		if t.Dev == nil && t.Data != nil {
			panic(fmt.Sprintf("gl: %s: %s %v holds host data only (not made by the gl backend's NewTensor)", op, arg, t))
		}
		panic(fmt.Sprintf("gl: %s: %s %v was not made by this gl backend", op, arg, t))
	}
	if t.Off < 0 || 4*(t.Off+t.Len()) > d.bytes {
		panic(fmt.Sprintf("gl: %s: %s %v at element %d overruns its buffer of %d elements", op, arg, t, t.Off, d.bytes/4))
	}
	return d
}

// optDev is dev for an optional argument: nil gives nil.
func (b *Backend) optDev(op, arg string, t *compute.Tensor) *buffer {
	if t == nil {
		return nil
	}
	return b.dev(op, arg, t)
}

// idOf is a buffer's GL name, 0 for nil.
func idOf(d *buffer) uint32 {
	if d == nil {
		return 0
	}
	return d.id
}

// mustShape checks that t is a rows×cols matrix.
func mustShape(op, arg string, t *compute.Tensor, rows, cols int) {
	if t.Rows() != rows || t.Cols() != cols {
		panic(fmt.Sprintf("gl: %s: %s is %v (%d×%d), want %d×%d", op, arg, t, t.Rows(), t.Cols(), rows, cols))
	}
}

// mustLen checks that t holds n elements.
func mustLen(op, arg string, t *compute.Tensor, n int) {
	if t.Len() != n {
		panic(fmt.Sprintf("gl: %s: %s is %v (%d elements), want %d elements", op, arg, t, t.Len(), n))
	}
}

// NewTensor returns a zeroed tensor of the given shape, held in a GPU
// storage buffer.
func (b *Backend) NewTensor(shape ...int) *compute.Tensor {
	n := 1
	for i, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("gl: NewTensor%v: dimension %d is negative", shape, i))
		}
		n *= d
	}
	if 4*n > b.maxBlock {
		panic(fmt.Sprintf("gl: NewTensor%v: %d MiB, more than this driver binds to a shader (%d MiB); use smaller batches",
			shape, (4*n)>>20, b.maxBlock>>20))
	}
	t := &compute.Tensor{Shape: append([]int(nil), shape...)}
	b.do(func() { t.Dev = b.newBuffer(4*n, fmt.Sprintf("tensor %v", shape), true) })
	return t
}

// Upload copies src into t.
func (b *Backend) Upload(t *compute.Tensor, src []float32) {
	d := b.dev("Upload", "t", t)
	if len(src) != t.Len() {
		panic(fmt.Sprintf("gl: Upload: %d values for %v", len(src), t))
	}
	if len(src) == 0 {
		return
	}
	b.do(func() {
		b.beforeSubData(d.id)
		gl.BindBuffer(gl.SHADER_STORAGE_BUFFER, d.id)
		gl.BufferSubData(gl.SHADER_STORAGE_BUFFER, 4*t.Off, 4*len(src), unsafe.Pointer(&src[0]))
	})
}

// Download copies t's values into dst. It waits for the GPU.
func (b *Backend) Download(dst []float32, t *compute.Tensor) {
	d := b.dev("Download", "t", t)
	if len(dst) != t.Len() {
		panic(fmt.Sprintf("gl: Download: room for %d values, %v has %d", len(dst), t, t.Len()))
	}
	b.do(func() {
		if len(dst) > 0 {
			gl.BindBuffer(gl.SHADER_STORAGE_BUFFER, d.id)
			gl.GetBufferSubData(gl.SHADER_STORAGE_BUFFER, 4*t.Off, 4*len(dst), unsafe.Pointer(&dst[0]))
		}
		b.checkError("in Download (or an earlier call)")
	})
}

// Zero sets every element of t to 0.
func (b *Backend) Zero(t *compute.Tensor) {
	d := b.dev("Zero", "t", t)
	if t.Len() == 0 {
		return
	}
	b.post(func() { b.clearRange(d.id, t.Off, t.Len()) })
}

func (b *Backend) clearRange(id uint32, off, n int) {
	b.markUse(id)
	zero := uint32(0)
	gl.BindBuffer(gl.SHADER_STORAGE_BUFFER, id)
	gl.ClearBufferSubData(gl.SHADER_STORAGE_BUFFER, gl.R32UI, 4*off, 4*n, gl.RED_INTEGER, gl.UNSIGNED_INT, unsafe.Pointer(&zero))
}

// Copy copies src into dst (same number of elements).
func (b *Backend) Copy(dst, src *compute.Tensor) {
	const op = "Copy"
	dd, sd := b.dev(op, "dst", dst), b.dev(op, "src", src)
	n := dst.Len()
	if src.Len() != n {
		panic(fmt.Sprintf("gl: %s: dst %v and src %v differ in size", op, dst, src))
	}
	if n == 0 || dd == sd && dst.Off == src.Off {
		return
	}
	b.post(func() {
		if dd == sd && dst.Off < src.Off+n && src.Off < dst.Off+n {
			// Overlapping ranges of one buffer: go through scratch.
			tmp := b.scratchBuffer("copy", 4*n)
			b.copyRange(tmp, 0, sd.id, src.Off, n)
			b.copyRange(dd.id, dst.Off, tmp, 0, n)
			return
		}
		b.copyRange(dd.id, dst.Off, sd.id, src.Off, n)
	})
}

func (b *Backend) copyRange(dst uint32, dstOff int, src uint32, srcOff, n int) {
	b.markUse(dst)
	b.markUse(src)
	gl.BindBuffer(gl.COPY_READ_BUFFER, src)
	gl.BindBuffer(gl.COPY_WRITE_BUFFER, dst)
	gl.CopyBufferSubData(gl.COPY_READ_BUFFER, gl.COPY_WRITE_BUFFER, 4*srcOff, 4*dstOff, 4*n)
}

var _ compute.Backend = (*Backend)(nil)
