//go:build cgo && linux

package gl_test

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/compute/gl"
)

// waitPooled collects garbage until b's pool holds every buffer of ids
// (the handles' cleanups run on their own goroutine, and the buffers
// reach the pool on the GL thread at b's next call).
func waitPooled(t *testing.T, b *gl.Backend, ids []uint32) {
	t.Helper()
	for range 200 {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
		_, _, held := b.PoolStats()
		all := true
		for _, id := range ids {
			all = all && slices.Contains(held, id)
		}
		if all {
			return
		}
	}
	_, _, held := b.PoolStats()
	t.Fatalf("the buffers %v of dropped tensors did not come back to the pool (it holds %v)", ids, held)
}

// TestBufferPoolReuse drops tensors holding data, makes tensors of the
// same sizes again and checks that they take the released buffers instead
// of new ones from the driver, start zeroed, never share a buffer with a
// live tensor, and compute what the CPU backend computes.
func TestBufferPoolReuse(t *testing.T) {
	g := backend(t)
	shapes := [][]int{{1}, {7, 33}, {300, 257}, {1000}, {64, 64}}
	var dropped []uint32
	func() {
		for _, s := range shapes {
			x := g.NewTensor(s...)
			v := make([]float32, x.Len())
			for i := range v {
				v[i] = float32(i%13 + 1)
			}
			g.Upload(x, v)
			g.Scale(x, 2) // a pending kernel write too
			dropped = append(dropped, gl.BufferID(x))
		}
	}()
	waitPooled(t, g, dropped)

	allocs0, reuses0, _ := g.PoolStats()
	var fresh []*compute.Tensor
	for _, s := range shapes {
		fresh = append(fresh, g.NewTensor(s...))
	}
	allocs, reuses, _ := g.PoolStats()
	if allocs != allocs0 || reuses-reuses0 != len(shapes) {
		t.Errorf("%d tensors of released sizes: %d driver allocations and %d reuses, want 0 and %d",
			len(shapes), allocs-allocs0, reuses-reuses0, len(shapes))
	}
	seen := map[uint32]bool{}
	for i, x := range fresh {
		id := gl.BufferID(x)
		if seen[id] {
			t.Fatalf("tensor %v got buffer %d, which another live tensor holds", shapes[i], id)
		}
		seen[id] = true
		got := make([]float32, x.Len())
		g.Download(got, x)
		for j, v := range got {
			if v != 0 {
				t.Fatalf("reused tensor %v: element %d is %g, want a zeroed tensor", shapes[i], j, v)
			}
		}
	}
	reused := 0
	for _, id := range dropped {
		if seen[id] {
			reused++
		}
	}
	if reused == 0 {
		t.Errorf("none of the released buffers %v was handed out again (got %v)", dropped, seen)
	}

	// Values stay right in reused buffers: the same operations from the
	// same inputs on the CPU backend.
	c := cpu.New()
	run := func(be compute.Backend, ts []*compute.Tensor) [][]float32 {
		rng := rand.New(rand.NewPCG(11, 12))
		for _, x := range ts {
			v := make([]float32, x.Len())
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
			be.Upload(x, v)
		}
		be.MatMul(ts[4], ts[2].RowView(0, 64), ts[2].RowView(100, 64), false, true, 1, 0.25)
		be.Scale(ts[2], 0.5)
		be.Add(ts[3], ts[3], ts[3])
		be.Mul(ts[1], ts[1], ts[1])
		var out [][]float32
		for _, x := range ts {
			v := make([]float32, x.Len())
			be.Download(v, x)
			out = append(out, v)
		}
		return out
	}
	mm := run(c, func() []*compute.Tensor {
		var ts []*compute.Tensor
		for _, s := range shapes {
			ts = append(ts, c.NewTensor(s...))
		}
		return ts
	}())
	for i, got := range run(g, fresh) {
		if e := relDiff(got, mm[i]); !(e <= 1e-5) {
			t.Errorf("reused tensor %v: GL differs from the CPU by %.3g relative", shapes[i], e)
		}
	}
}

// TestBufferPoolLimit checks that released buffers beyond the pool's limit
// go back to the driver instead of the pool.
func TestBufferPoolLimit(t *testing.T) {
	g := backend(t)
	defer g.SetPoolLimit(g.SetPoolLimit(0))
	var dropped []uint32
	func() {
		for range 3 {
			dropped = append(dropped, gl.BufferID(g.NewTensor(100)))
		}
	}()
	for range 200 {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
		live := 0
		for _, id := range dropped {
			if g.IsBuffer(id) {
				live++
			}
		}
		if live == 0 {
			break
		}
	}
	_, _, held := g.PoolStats()
	for _, id := range dropped {
		if slices.Contains(held, id) || g.IsBuffer(id) {
			t.Errorf("buffer %d of a dropped tensor was kept by a pool limited to 0 bytes", id)
		}
	}
}
