//go:build cgo && linux

package gl

import (
	"fmt"
	"math"

	"github.com/fynetune/fynetune/compute"
)

// ropeCache remembers which cos/sin table the rope scratch buffers hold.
type ropeCache struct {
	valid              bool
	pos0, seq, headDim int
	theta              float32
}

// ropeTable returns cos and sin of the rotary angles of positions
// pos0..pos0+seq-1, entry [t*half+i], computed exactly as the CPU backend
// (and Hugging Face) do in float32: inv_freq[i] = 1/theta^(2i/hd) rounded
// to float32, the angle float32(pos)·inv_freq[i] rounded to float32, then
// its cos and sin rounded to float32.
func ropeTable(pos0, seq, headDim int, theta float32) (cos, sin []float32) {
	half := headDim / 2
	cos, sin = make([]float32, seq*half), make([]float32, seq*half)
	for i := range half {
		e := float32(2*i) / float32(headDim)
		p := float32(math.Pow(float64(theta), float64(e)))
		inv := float32(1 / float64(p))
		for t := range seq {
			a := float32(pos0+t) * inv
			cos[t*half+i] = float32(math.Cos(float64(a)))
			sin[t*half+i] = float32(math.Sin(float64(a)))
		}
	}
	return cos, sin
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
	xd := b.dev(op, "x", x)
	if batch < 0 || seq < 0 || heads < 0 || headDim < 0 || pos0 < 0 || headDim%2 != 0 {
		panic(fmt.Sprintf("gl: %s: bad geometry batch=%d seq=%d heads=%d headDim=%d pos0=%d (headDim must be even)",
			op, batch, seq, heads, headDim, pos0))
	}
	mustShape(op, "x", x, batch*seq, heads*headDim)
	n := batch * seq * heads * headDim / 2
	if n == 0 {
		return
	}
	key := ropeCache{true, pos0, seq, headDim, theta}
	b.post(func() {
		half := headDim / 2
		if b.rope != key {
			cos, sin := ropeTable(pos0, seq, headDim, theta)
			b.uploadFloats("rope_cos", cos)
			b.uploadFloats("rope_sin", sin)
			b.rope = key
		}
		cid, sid := b.scratchBuffer("rope_cos", 4*seq*half), b.scratchBuffer("rope_sin", 4*seq*half)
		defs := []string{}
		if inverse {
			defs = append(defs, "INVERSE")
		}
		b.dispatch(b.program("rope.glsl", defs...), groups1D(n, 256), 1, 1,
			args{"rows": batch * seq, "seq": seq, "heads": heads, "nhalf": headDim / 2, "offX": x.Off}, xd.id, cid, sid)
	})
}
