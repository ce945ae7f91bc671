package gl_test

import (
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/gl"
)

// TestUploadAfterClearOrCopy uploads into buffers that a clear (NewTensor,
// Zero) or a buffer copy (Copy) has just written, with no wait between,
// and checks what the GPU then sees. The NVIDIA driver lets such a pending
// clear or copy overwrite the upload unless the backend waits for it
// (every op then read zeros).
func TestUploadAfterClearOrCopy(t *testing.T) {
	b := backend(t)
	for _, n := range []int{1, 64, 100000} {
		v, w := make([]float32, n), make([]float32, n)
		for i := range v {
			v[i] = float32(i%1000 + 1)
			w[i] = -float32(i%7 + 1)
		}
		times := func(s float32, x []float32) []float32 {
			y := make([]float32, len(x))
			for i := range x {
				y[i] = s * x[i]
			}
			return y
		}
		fresh := func() *compute.Tensor { return b.NewTensor(n) }
		for _, c := range []struct {
			name string
			run  func() *compute.Tensor // returns the tensor to read
			want []float32
		}{
			{"NewTensor, Upload, Download", func() *compute.Tensor {
				x := fresh()
				b.Upload(x, v)
				return x
			}, v},
			{"NewTensor, Upload, Copy", func() *compute.Tensor {
				x, y := fresh(), fresh()
				b.Upload(x, v)
				b.Copy(y, x)
				return y
			}, v},
			{"NewTensor, Upload, Add aliasing", func() *compute.Tensor {
				x := fresh()
				b.Upload(x, v)
				b.Add(x, x, x)
				return x
			}, times(2, v)},
			{"Zero, Upload, Scale", func() *compute.Tensor {
				x := fresh()
				b.Upload(x, w)
				b.Zero(x)
				b.Upload(x, v)
				b.Scale(x, 3)
				return x
			}, times(3, v)},
			{"Copy, Upload into its destination, Add", func() *compute.Tensor {
				x, y, z := fresh(), fresh(), fresh()
				b.Upload(x, w)
				b.Copy(y, x)
				b.Upload(y, v)
				b.Add(z, y, y)
				return z
			}, times(2, v)},
			{"Scale, Upload, Copy", func() *compute.Tensor {
				x, y := fresh(), fresh()
				b.Upload(x, w)
				b.Scale(x, 2)
				b.Upload(x, v)
				b.Copy(y, x)
				return y
			}, v},
		} {
			got := make([]float32, n)
			b.Download(got, c.run())
			bad := 0
			for i := range got {
				if got[i] != c.want[i] {
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("%s (n=%d): %d of %d values wrong, first got %v want %v", c.name, n, bad, n, got[:min(n, 3)], c.want[:min(n, 3)])
			}
		}
	}
	// A weight uploaded right after its buffer was cleared.
	x := b.NewTensor(1, 3)
	b.Upload(x, []float32{1, 2, 3})
	wt := &compute.Weight{Name: "w", Out: 2, In: 3, DType: compute.F32, F32: []float32{1, 0, 0, 0, 1, 1}}
	b.PrepareWeight(wt)
	y := b.NewTensor(1, 2)
	b.Linear(y, x, wt, nil)
	got := make([]float32, 2)
	b.Download(got, y)
	if got[0] != 1 || got[1] != 5 {
		t.Errorf("Linear with a freshly prepared weight: got %v, want [1 5]", got)
	}
}

// queueWork queues products that keep the GPU busy for a while, so that
// the calls after it are issued while it still runs.
func queueWork(g *gl.Backend) {
	n := 4096
	if g.IsSoftware() {
		n = 192
	}
	a, c := g.NewTensor(n, n), g.NewTensor(n, n)
	g.Finish()
	for range 6 {
		g.MatMul(c, a, a, false, true, 1, 0)
	}
}

// TestUploadWhileInUse uploads into buffers that queued kernels still read
// or write, behind a queue of work, and checks every result: the upload
// must not reach the earlier kernels, and the later ones must see it. On
// NVIDIA an upload into a buffer a queued gather still read landed after
// the next gather had run, which then used the old ids.
func TestUploadWhileInUse(t *testing.T) {
	g := backend(t)
	const rows, cols = 1000, 64
	src := g.NewTensor(rows, cols)
	sv := make([]float32, rows*cols)
	for i := range sv {
		sv[i] = float32(i / cols)
	}
	g.Upload(src, sv)
	ids1, ids2 := make([]int32, 500), make([]int32, 500)
	for i := range ids1 {
		ids1[i], ids2[i] = int32(i), int32(999-i)
	}
	checkRows := func(what string, out *compute.Tensor, ids []int32) {
		got := make([]float32, out.Len())
		g.Download(got, out)
		for i, v := range got {
			if v != float32(ids[i/cols]) {
				t.Errorf("%s: element %d is %g, want row %d", what, i, v, ids[i/cols])
				return
			}
		}
	}
	out1, out2 := g.NewTensor(500, cols), g.NewTensor(500, cols)
	queueWork(g)
	g.GatherRows(out1, src, ids1)
	g.GatherRows(out2, src, ids2) // its ids go where the first gather's are
	checkRows("first of two queued gathers", out1, ids1)
	checkRows("second of two queued gathers", out2, ids2)

	const n = 100000
	v, w := make([]float32, n), make([]float32, n)
	for i := range v {
		v[i], w[i] = float32(i%100+1), -float32(i%7+1)
	}
	check := func(what string, x *compute.Tensor, want []float32, k float32) {
		got := make([]float32, n)
		g.Download(got, x)
		for i := range got {
			if got[i] != k*want[i] {
				t.Errorf("%s: element %d is %g, want %g", what, i, got[i], k*want[i])
				return
			}
		}
	}
	x, y, z := g.NewTensor(n), g.NewTensor(n), g.NewTensor(n)
	g.Upload(x, v)
	queueWork(g)
	g.Add(y, x, x) // reads x
	g.Upload(x, w)
	g.Add(z, x, x) // reads the new x
	check("a queued kernel's input uploaded over", y, v, 2)
	check("the kernel after the upload", z, w, 2)

	g.Upload(x, w)
	queueWork(g)
	g.Scale(x, 3) // writes x
	g.Upload(x, v)
	g.Add(y, x, x)
	check("an upload over a queued kernel's output", x, v, 1)
	check("the kernel after it", y, v, 2)

	g.Upload(x, v)
	queueWork(g)
	g.Copy(y, x) // reads x
	g.Upload(x, w)
	check("a queued copy's source uploaded over", y, v, 1)
	check("the copy's source", x, w, 1)
}
