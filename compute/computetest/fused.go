package computetest

import (
	"math"

	"github.com/fynetune/fynetune/compute"
)

// fdLimit is the largest input checked element by element with finite
// differences; larger inputs are checked along random directions.
const fdLimit = 600

// checkGrad compares grad with the finite-difference gradient of f at x.
func (e *env) checkGrad(what string, f func([]float64) float64, x []float64, grad []float32) {
	e.Helper()
	if len(x) <= fdLimit {
		e.near(what+" (finite differences)", grad, fdGrad(f, x))
	} else {
		e.fdDirections(what, f, x, grad)
	}
}

// ---------------------------------------------------------------- RoPE

// hfAngle is the rotary angle of position pos and frequency i as Hugging
// Face computes it: inv_freq = 1/theta^(2i/hd) in float32, times the
// position in float32.
func hfAngle(pos, i, hd int, theta float32) float64 {
	e := float32(2*i) / float32(hd)
	p := float32(math.Pow(float64(theta), float64(e)))
	inv := float32(1 / float64(p))
	return float64(float32(pos) * inv)
}

// refRoPE is rotate-half RoPE in float64: for each head, with x = [x1, x2]
// in halves, x·cos + [-x2, x1]·sin.
func refRoPE(x []float64, batch, seq, heads, hd, pos0 int, theta float32) []float64 {
	y := make([]float64, len(x))
	half := hd / 2
	for r := range batch * seq {
		pos := pos0 + r%seq
		for h := range heads {
			base := r*heads*hd + h*hd
			for i := range half {
				a := hfAngle(pos, i, hd, theta)
				c, s := math.Cos(a), math.Sin(a)
				x1, x2 := x[base+i], x[base+half+i]
				y[base+i] = x1*c - x2*s
				y[base+half+i] = x2*c + x1*s
			}
		}
	}
	return y
}

func testRoPE(e *env) {
	for _, c := range []struct {
		batch, seq, heads, hd, pos0 int
		theta                       float32
	}{
		{1, 1, 1, 2, 0, 10000},
		{2, 5, 3, 8, 0, 10000},
		{2, 4, 2, 16, 7, 500000},
		{1, 3, 2, 64, 4000, 10000}, // far positions: HF's float32 angles matter
		{3, 40, 4, 32, 0, 10000},
	} {
		what := name("B=%d T=%d H=%d hd=%d pos0=%d theta=%g", c.batch, c.seq, c.heads, c.hd, c.pos0, c.theta)
		n := c.batch * c.seq * c.heads * c.hd
		xv, gv := e.randn(n, 1), e.randn(n, 1)
		x := e.tensor(xv, c.batch*c.seq, c.heads*c.hd)
		e.b.RoPE(x, c.batch, c.seq, c.heads, c.hd, c.pos0, c.theta)
		e.near("RoPE "+what, e.get(x), refRoPE(f64(xv), c.batch, c.seq, c.heads, c.hd, c.pos0, c.theta))

		dx := e.tensor(gv, c.batch*c.seq, c.heads*c.hd)
		e.b.RoPEBackward(dx, c.batch, c.seq, c.heads, c.hd, c.pos0, c.theta)
		f := func(x []float64) float64 {
			return dot(refRoPE(x, c.batch, c.seq, c.heads, c.hd, c.pos0, c.theta), gv)
		}
		e.checkGrad("RoPEBackward "+what, f, f64(xv), e.get(dx))
	}
}

// ----------------------------------------------------------- attention

type attnCase struct {
	batch, tq, tk, heads, kvHeads, hd int
}

// refAttention is causal attention with grouped KV heads in float64, written
// from the definition: query t of batch b sits at position tk-tq+t and
// attends to keys 0..tk-tq+t with softmax(q·k/√hd); query head h reads KV
// head h/(heads/kvHeads).
func refAttention(c attnCase, q, k, v []float64) (out, probs []float64) {
	out = make([]float64, c.batch*c.tq*c.heads*c.hd)
	probs = make([]float64, c.batch*c.heads*c.tq*c.tk)
	pos0 := c.tk - c.tq
	scale := 1 / math.Sqrt(float64(c.hd))
	s := make([]float64, c.tk)
	for b := range c.batch {
		for h := range c.heads {
			kvh := h / (c.heads / c.kvHeads)
			for t := range c.tq {
				qi := (b*c.tq+t)*c.heads*c.hd + h*c.hd
				lim := pos0 + t + 1
				mx := math.Inf(-1)
				for j := range lim {
					kj := (b*c.tk+j)*c.kvHeads*c.hd + kvh*c.hd
					var d float64
					for x := range c.hd {
						d += q[qi+x] * k[kj+x]
					}
					s[j] = d * scale
					mx = math.Max(mx, s[j])
				}
				var sum float64
				for j := range lim {
					s[j] = math.Exp(s[j] - mx)
					sum += s[j]
				}
				for j := range lim {
					p := s[j] / sum
					probs[((b*c.heads+h)*c.tq+t)*c.tk+j] = p
					vj := (b*c.tk+j)*c.kvHeads*c.hd + kvh*c.hd
					for x := range c.hd {
						out[qi+x] += p * v[vj+x]
					}
				}
			}
		}
	}
	return out, probs
}

func testAttention(e *env) {
	for _, c := range []attnCase{
		{1, 1, 1, 1, 1, 4},
		{2, 3, 5, 4, 2, 4}, // GQA, two cached positions
		{2, 6, 6, 4, 1, 8}, // multi-query
		{1, 5, 5, 3, 3, 8}, // multi-head
		{2, 40, 40, 6, 3, 16},
		{1, 33, 70, 2, 2, 8}, // 37 cached positions
	} {
		what := name("B=%d Tq=%d Tk=%d H=%d Hkv=%d hd=%d", c.batch, c.tq, c.tk, c.heads, c.kvHeads, c.hd)
		nq, nk := c.batch*c.tq*c.heads*c.hd, c.batch*c.tk*c.kvHeads*c.hd
		qv, kv, vv, gv := e.randn(nq, 1), e.randn(nk, 1), e.randn(nk, 1), e.randn(nq, 1)
		wantOut, wantProbs := refAttention(c, f64(qv), f64(kv), f64(vv))

		b := e.b
		q, k, v := e.tensor(qv, c.batch*c.tq, c.heads*c.hd), e.tensor(kv, c.batch*c.tk, c.kvHeads*c.hd), e.tensor(vv, c.batch*c.tk, c.kvHeads*c.hd)
		out := e.tensor(e.randn(nq, 1), c.batch*c.tq, c.heads*c.hd)
		probs := e.tensor(e.randn(c.batch*c.heads*c.tq*c.tk, 1), c.batch, c.heads, c.tq, c.tk)
		b.Attention(out, probs, q, k, v, c.batch, c.tq, c.tk, c.heads, c.kvHeads, c.hd)
		e.near("Attention out "+what, e.get(out), wantOut)
		e.near("Attention probs "+what, e.get(probs), wantProbs)

		out2 := b.NewTensor(c.batch*c.tq, c.heads*c.hd)
		b.Attention(out2, nil, q, k, v, c.batch, c.tq, c.tk, c.heads, c.kvHeads, c.hd)
		e.near("Attention out without probs "+what, e.get(out2), wantOut)

		dq := e.tensor(e.randn(nq, 1), c.batch*c.tq, c.heads*c.hd)
		dk := e.tensor(e.randn(nk, 1), c.batch*c.tk, c.kvHeads*c.hd)
		dv := e.tensor(e.randn(nk, 1), c.batch*c.tk, c.kvHeads*c.hd)
		b.AttentionBackward(dq, dk, dv, e.tensor(gv, c.batch*c.tq, c.heads*c.hd), probs, q, k, v,
			c.batch, c.tq, c.tk, c.heads, c.kvHeads, c.hd)

		// One parameter vector [q | k | v] and the loss Σ out⊙g.
		x := append(append(f64(qv), f64(kv)...), f64(vv)...)
		f := func(x []float64) float64 {
			o, _ := refAttention(c, x[:nq], x[nq:nq+nk], x[nq+nk:])
			return dot(o, gv)
		}
		got := append(append(e.get(dq), e.get(dk)...), e.get(dv)...)
		e.checkGrad("AttentionBackward dq|dk|dv "+what, f, x, got)
	}
}

// ------------------------------------------------------- cross-entropy

// refCrossEntropy is Σ over rows with a target >= 0 of
// log Σ_j exp(x_j) - x_target, in float64.
func refCrossEntropy(logits []float64, targets []int32, v int) (sum float64, count int) {
	for i, tg := range targets {
		if tg < 0 {
			continue
		}
		row := logits[i*v : (i+1)*v]
		mx := math.Inf(-1)
		for _, x := range row {
			mx = math.Max(mx, x)
		}
		var s float64
		for _, x := range row {
			s += math.Exp(x - mx)
		}
		sum += mx + math.Log(s) - row[tg]
		count++
	}
	return sum, count
}

func testCrossEntropy(e *env) {
	const ign = compute.IgnoreIndex
	for _, c := range []struct {
		n, v    int
		targets []int32
		spread  float64
		scale   float32
	}{
		{1, 1, []int32{0}, 1, 1},
		{4, 7, []int32{3, ign, 0, 6}, 1, 1},
		{3, 5, []int32{ign, ign, -1}, 1, 1},
		{5, 9, []int32{8, 1, ign, 1, 0}, 30, 0.25}, // large logits
		{50, 300, nil, 2, 1.0 / 40},
	} {
		targets := c.targets
		if targets == nil {
			targets = make([]int32, c.n)
			for i := range targets {
				targets[i] = int32(e.rng.IntN(c.v))
				if i%5 == 2 {
					targets[i] = ign
				}
			}
		}
		what := name("N=%d V=%d scale=%g", c.n, c.v, c.scale)
		lv := e.randn(c.n*c.v, c.spread)
		wantSum, wantCount := refCrossEntropy(f64(lv), targets, c.v)

		logits := e.tensor(lv, c.n, c.v)
		dl := e.tensor(e.randn(c.n*c.v, 1), c.n, c.v)
		sum, count := e.b.CrossEntropy(dl, logits, targets, c.scale)
		if count != wantCount {
			e.Errorf("CrossEntropy %s: count %d, want %d", what, count, wantCount)
		}
		e.near("CrossEntropy sum "+what, []float32{float32(sum)}, []float64{wantSum})

		f := func(x []float64) float64 {
			s, _ := refCrossEntropy(x, targets, c.v)
			return s * float64(c.scale)
		}
		got := e.get(dl)
		e.checkGrad("CrossEntropy dlogits "+what, f, f64(lv), got)
		for i, tg := range targets {
			if tg < 0 {
				e.exact(name("CrossEntropy dlogits of ignored row %d %s", i, what), got[i*c.v:(i+1)*c.v], make([]float32, c.v))
			}
		}

		sum2, count2 := e.b.CrossEntropy(nil, logits, targets, c.scale)
		if count2 != wantCount {
			e.Errorf("CrossEntropy without dlogits %s: count %d, want %d", what, count2, wantCount)
		}
		e.near("CrossEntropy sum without dlogits "+what, []float32{float32(sum2)}, []float64{wantSum})
	}
}
