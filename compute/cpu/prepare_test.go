package cpu

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu/gemm"
)

// TestPreparedWeightsMatchStored checks that a weight packed by
// PrepareWeight, in place (Own) or as a copy, gives the same products and
// embedding rows as the same weight read as stored, in both storage orders,
// and that Values reads the values back.
func TestPreparedWeightsMatchStored(t *testing.T) {
	const out, in, n = 37, 29, 11 // neither a multiple of the 16-row panels
	b := New(WithThreads(2))
	for _, transposed := range []bool{false, true} {
		for _, own := range []bool{false, true} {
			name := fmt.Sprintf("transposed=%v/own=%v", transposed, own)
			r := rand.New(rand.NewPCG(1, 2))
			vals := make([]float32, out*in)
			for i := range vals {
				vals[i] = float32(r.NormFloat64())
			}
			stored := &compute.Weight{Name: "w", Out: out, In: in, Transposed: transposed, DType: compute.F32, F32: vals}
			w := &compute.Weight{Name: "w", Out: out, In: in, Transposed: transposed, DType: compute.F32, F32: slices.Clone(vals), Own: own}
			b.PrepareWeight(w)
			if _, ok := w.Dev.(*gemm.Packed); !ok {
				t.Fatalf("%s: PrepareWeight left Dev = %T, want *gemm.Packed", name, w.Dev)
			}
			if own != (w.F32 == nil) {
				t.Errorf("%s: F32 is nil: %v, want %v (packed in place only when owned)", name, w.F32 == nil, own)
			}
			if !own && !slices.Equal(w.F32, vals) {
				t.Errorf("%s: PrepareWeight changed a weight it does not own", name)
			}
			if !slices.Equal(w.Values(), vals) {
				t.Errorf("%s: Values() differs from the values prepared", name)
			}
			b.PrepareWeight(w) // again: a no-op, not an error

			x := b.NewTensor(n, in)
			dy := b.NewTensor(n, out)
			for i := range x.Data {
				x.Data[i] = float32(r.NormFloat64())
			}
			for i := range dy.Data {
				dy.Data[i] = float32(r.NormFloat64())
			}
			bias := b.NewTensor(out)
			bias.Data[3] = 1
			for _, c := range []struct {
				op  string
				run func(w *compute.Weight) []float32
			}{
				{"Linear", func(w *compute.Weight) []float32 {
					y := b.NewTensor(n, out)
					b.Linear(y, x, w, bias)
					return y.Data
				}},
				{"LinearBackwardInput", func(w *compute.Weight) []float32 {
					dx := b.NewTensor(n, in)
					dx.Data[5] = 2
					b.LinearBackwardInput(dx, dy, w, true)
					return dx.Data
				}},
				{"Embedding", func(w *compute.Weight) []float32 {
					e := b.NewTensor(4, in)
					b.Embedding(e, w, []int32{0, 36, 16, 17})
					return e.Data
				}},
			} {
				// One depth block: the same sums in the same order, so the
				// same bits.
				if got, want := c.run(w), c.run(stored); !slices.Equal(got, want) {
					t.Errorf("%s: %s of the prepared weight differs from the stored one's", name, c.op)
				}
			}
		}
	}
}

// TestTrainableWeightIsReadAsStored checks that a Trainable weight is not
// packed: an update to F32 shows in the next product.
func TestTrainableWeightIsReadAsStored(t *testing.T) {
	b := New()
	w := &compute.Weight{Name: "w", Out: 2, In: 2, DType: compute.F32, F32: []float32{1, 0, 0, 1}, Own: true, Trainable: true}
	b.PrepareWeight(w)
	if w.Dev != nil || w.F32 == nil {
		t.Fatalf("a trainable weight was prepared into %T (F32 nil: %v)", w.Dev, w.F32 == nil)
	}
	x, y := b.NewTensor(1, 2), b.NewTensor(1, 2)
	x.Data[0], x.Data[1] = 3, 4
	w.F32[1] = 1 // W[0,1]: y0 = 3 + 4
	b.PrepareWeight(w)
	b.Linear(y, x, w, nil)
	if y.Data[0] != 7 || y.Data[1] != 4 {
		t.Errorf("y = %v after the update, want [7 4]", y.Data)
	}
}

// TestPackedWeightShapeChecked checks that a weight whose shape changed
// after it was packed is refused with its name.
func TestPackedWeightShapeChecked(t *testing.T) {
	b := New()
	w := &compute.Weight{Name: "h.0.attn.c_attn.weight", Out: 4, In: 2, DType: compute.F32, F32: make([]float32, 8), Own: true}
	b.PrepareWeight(w)
	w.Out, w.In = 2, 4
	msg := panicMessage(func() { b.Linear(b.NewTensor(1, 2), b.NewTensor(1, 4), w, nil) })
	if want := `weight "h.0.attn.c_attn.weight" is [2 4] but was packed as [4 2]`; !strings.Contains(msg, want) {
		t.Errorf("panic %q, want it to contain %q", msg, want)
	}
}
