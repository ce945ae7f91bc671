package cpu

import (
	"fmt"
	"math"

	"github.com/fynetune/fynetune/compute"
)

// ropeTable caches cos and sin of the rotary angles for positions
// pos0..pos0+seq-1: entry [t*half+i] is for position pos0+t and frequency i.
type ropeTable struct {
	pos0, seq, headDim int
	theta              float32
	cos, sin           []float32
}

// fill fills the table the way Hugging Face does in float32:
// inv_freq[i] = 1/theta^(2i/hd) rounded to float32, the angle
// float32(pos)·inv_freq[i] rounded to float32, and its cos and sin rounded to
// float32.
func (r *ropeTable) fill(pos0, seq, headDim int, theta float32) {
	if r.cos != nil && r.pos0 == pos0 && r.seq == seq && r.headDim == headDim && r.theta == theta {
		return
	}
	half := headDim / 2
	if cap(r.cos) < seq*half {
		r.cos = make([]float32, seq*half)
		r.sin = make([]float32, seq*half)
	}
	r.cos, r.sin = r.cos[:seq*half], r.sin[:seq*half]
	for i := range half {
		// torch: base ** (arange(0, hd, 2).float() / hd), then 1.0 / that,
		// all in float32.
		e := float32(2*i) / float32(headDim)
		p := float32(math.Pow(float64(theta), float64(e)))
		inv := float32(1 / float64(p))
		for t := range seq {
			a := float32(pos0+t) * inv
			r.cos[t*half+i] = float32(math.Cos(float64(a)))
			r.sin[t*half+i] = float32(math.Sin(float64(a)))
		}
	}
	r.pos0, r.seq, r.headDim, r.theta = pos0, seq, headDim, theta
}

// RoPE rotates x[B*T, H*headDim] in place (rotate-half); row b*T+t is at
// position pos0+t.
func (b *Backend) RoPE(x *compute.Tensor, batch, seq, heads, headDim, pos0 int, theta float32) {
	b.rope1("RoPE", x, batch, seq, heads, headDim, pos0, theta, false)
}

// RoPEBackward applies the inverse rotation to the gradient dx in place.
func (b *Backend) RoPEBackward(dx *compute.Tensor, batch, seq, heads, headDim, pos0 int, theta float32) {
	b.rope1("RoPEBackward", dx, batch, seq, heads, headDim, pos0, theta, true)
}

func (b *Backend) rope1(op string, x *compute.Tensor, batch, seq, heads, headDim, pos0 int, theta float32, inverse bool) {
	xd := data(op, "x", x)
	if batch < 0 || seq < 0 || heads < 0 || headDim < 0 || pos0 < 0 || headDim%2 != 0 {
		panic(fmt.Sprintf("cpu: %s: bad geometry batch=%d seq=%d heads=%d headDim=%d pos0=%d (headDim must be even)",
			op, batch, seq, heads, headDim, pos0))
	}
	mustShape(op, "x", x, batch*seq, heads*headDim)
	if len(xd) == 0 {
		return
	}
	b.rope.fill(pos0, seq, headDim, theta)
	t := &b.ropeT
	*t = ropeTask{x: xd, cos: b.rope.cos, sin: b.rope.sin, seq: seq, heads: heads, half: headDim / 2, inverse: inverse}
	n := batch * seq
	b.pool.parallel(n, b.pool.partsFor(n, heads*headDim), t)
	*t = ropeTask{}
}

type ropeTask struct {
	x, cos, sin []float32
	seq, heads  int
	half        int
	inverse     bool
}

func (t *ropeTask) run(_, lo, hi int) {
	half, hd := t.half, 2*t.half
	for row := lo; row < hi; row++ {
		p := row % t.seq
		cs, sn := t.cos[p*half:(p+1)*half], t.sin[p*half:(p+1)*half]
		x := t.x[row*t.heads*hd : (row+1)*t.heads*hd]
		for h := range t.heads {
			a, bb := x[h*hd:h*hd+half], x[h*hd+half:(h+1)*hd]
			if t.inverse {
				// transpose of the rotation: [c s; -s c]
				for i, c := range cs {
					u, v := a[i], bb[i]
					a[i] = float32(u*c) + float32(v*sn[i])
					bb[i] = float32(v*c) - float32(u*sn[i])
				}
			} else {
				// x·cos + rotate_half(x)·sin, rotate_half(x) = [-x2, x1]
				for i, c := range cs {
					u, v := a[i], bb[i]
					a[i] = float32(u*c) - float32(v*sn[i])
					bb[i] = float32(v*c) + float32(u*sn[i])
				}
			}
		}
	}
}
