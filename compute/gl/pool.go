//go:build cgo && linux

package gl

import (
	"fmt"
	"math/bits"

	"github.com/go-gl/gl/v4.3-core/gl"
)

// poolLimit is the default number of bytes of released buffers the pool
// keeps for reuse; buffers released beyond it are deleted.
const poolLimit = 1 << 30

// bufferPool keeps released storage buffers by size class, so that
// NewTensor and the growing scratch buffers take a released buffer of the
// right class instead of asking the driver for a new one (glGenBuffers,
// glBufferData). It lives on the GL thread.
//
// Handing a released buffer out again at once is safe in GL's model: the
// backend has one context and issues its commands in order, so the
// commands that use the buffer's old contents were issued before anything
// that writes its new ones. NVIDIA's driver does not always keep that
// order for transfers (see beforeSubData), so a released buffer that
// commands issued since the last glFinish still use is given new storage
// when it is handed out (takeBuffer), and the upload after NewTensor's
// clear waits for it as with any other buffer.
//
// Frozen weights do not come from the pool: they are allocated at their
// exact size by PrepareWeight, once, and deleted when released.
type bufferPool struct {
	free  map[int][]uint32 // released buffers by capacity (a size class) in bytes
	held  int              // bytes in free
	limit int              // most bytes kept in free

	allocs, reuses int // driver allocations and reuses, for tests
}

// sizeClass rounds n bytes up to the pool's classes: 256 bytes, then four
// classes per power of two (1, 1.25, 1.5 and 1.75 times it), so that a
// buffer wastes at most a fifth of its capacity.
func sizeClass(n int) int {
	if n <= 256 {
		return 256
	}
	step := 1 << (bits.Len(uint(n-1)) - 3) // a quarter of the power of two below n
	return (n + step - 1) / step * step
}

// capacity is the bytes to allocate for a pooled buffer of n bytes: its
// class, or n itself when the class would be larger than the driver binds
// to a shader (such a buffer is not pooled when released).
func (b *Backend) capacity(n int) int {
	n = max(n, 4)
	if c := sizeClass(n); c <= b.maxBlock {
		return c
	}
	return n
}

// get returns a buffer of at least n bytes (n from capacity) with
// undefined contents, from the pool when one was released, else newly
// allocated; what names its use for error messages.
func (p *bufferPool) get(n int, what string) uint32 {
	if ids := p.free[n]; len(ids) > 0 {
		id := ids[len(ids)-1]
		p.free[n] = ids[:len(ids)-1]
		p.held -= n
		p.reuses++
		return id
	}
	for gl.GetError() != gl.NO_ERROR {
	}
	var id uint32
	gl.GenBuffers(1, &id)
	gl.BindBuffer(gl.SHADER_STORAGE_BUFFER, id)
	gl.BufferData(gl.SHADER_STORAGE_BUFFER, n, nil, gl.DYNAMIC_DRAW)
	e := gl.GetError()
	if e == gl.OUT_OF_MEMORY && p.held > 0 {
		// The pool's buffers may be what fills the GPU: free them and try
		// once more.
		p.drain()
		gl.BindBuffer(gl.SHADER_STORAGE_BUFFER, id)
		gl.BufferData(gl.SHADER_STORAGE_BUFFER, n, nil, gl.DYNAMIC_DRAW)
		e = gl.GetError()
	}
	if e != gl.NO_ERROR {
		gl.DeleteBuffers(1, &id)
		if e == gl.OUT_OF_MEMORY {
			panic(fmt.Sprintf("gl: %s: out of GPU memory allocating %d MiB", what, n>>20))
		}
		panic(fmt.Sprintf("gl: %s: allocating %d bytes: %s", what, n, glErrorName(e)))
	}
	p.allocs++
	return id
}

// put takes back buffer id of n bytes, which nothing issued after this
// call reads as its old self. Buffers whose size is not a class (clamped
// ones) or that would take the pool over its limit are deleted.
func (p *bufferPool) put(id uint32, n int) {
	if n != sizeClass(n) || p.held+n > p.limit {
		gl.DeleteBuffers(1, &id)
		return
	}
	if p.free == nil {
		p.free = map[int][]uint32{}
	}
	p.free[n] = append(p.free[n], id)
	p.held += n
}

// drain deletes every buffer the pool holds.
func (p *bufferPool) drain() {
	for n, ids := range p.free {
		if len(ids) > 0 {
			gl.DeleteBuffers(int32(len(ids)), &ids[0])
		}
		delete(p.free, n)
	}
	p.held = 0
}
