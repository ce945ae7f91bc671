package gl_test

import (
	"testing"

	"github.com/fynetune/fynetune/compute"
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
