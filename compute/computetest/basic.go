package computetest

import (
	"github.com/fynetune/fynetune/compute"
	"github.com/nlpodyssey/spago/mat"
)

// dense wraps float64 values as a spago matrix.
func dense(rows, cols int, v []float64) *mat.Dense[float64] {
	return mat.NewDense[float64](mat.WithShape(rows, cols), mat.WithBacking(append([]float64(nil), v...)))
}

// ones is a rows×cols spago matrix of ones.
func ones(rows, cols int) *mat.Dense[float64] {
	v := make([]float64, rows*cols)
	for i := range v {
		v[i] = 1
	}
	return dense(rows, cols, v)
}

// values returns a spago tensor's values as float64.
func values(t mat.Tensor) []float64 { return t.Value().Data().F64() }

func testTensors(e *env) {
	for _, shape := range [][]int{{1}, {3, 5}, {2, 3, 4}, {0, 7}} {
		t := e.b.NewTensor(shape...)
		if len(t.Shape) != len(shape) {
			e.Fatalf("NewTensor%v: shape %v", shape, t.Shape)
		}
		for i := range shape {
			if t.Shape[i] != shape[i] {
				e.Fatalf("NewTensor%v: shape %v", shape, t.Shape)
			}
		}
		n := t.Len()
		e.exact(name("NewTensor%v is zero", shape), e.get(t), make([]float32, n))
		v := e.randn(n, 1)
		e.b.Upload(t, v)
		e.exact(name("Download after Upload %v", shape), e.get(t), v)

		c := e.b.NewTensor(shape...)
		e.b.Copy(c, t)
		e.exact(name("Copy %v", shape), e.get(c), v)

		e.b.Scale(t, -0.37)
		want := make([]float64, n)
		for i, x := range v {
			want[i] = float64(x) * -0.37
		}
		e.near(name("Scale %v", shape), e.get(t), want)

		e.b.Zero(t)
		e.exact(name("Zero %v", shape), e.get(t), make([]float32, n))
	}
	// Copy between shapes of the same size.
	src := e.tensor(e.randn(12, 1), 3, 4)
	dst := e.b.NewTensor(12)
	e.b.Copy(dst, src)
	e.exact("Copy [3 4] to [12]", e.get(dst), e.get(src))
}

func testAdd(e *env) {
	for _, n := range []int{1, 7, 1000, 100000} {
		av, bv := e.randn(n, 1), e.randn(n, 2)
		want := values(dense(n, 1, f64(av)).Add(dense(n, 1, f64(bv))))
		for _, alias := range []string{"none", "a", "b"} {
			a, b := e.tensor(av, n), e.tensor(bv, n)
			out := e.b.NewTensor(n)
			switch alias {
			case "a":
				out = a
			case "b":
				out = b
			}
			e.b.Add(out, a, b)
			e.near(name("Add n=%d out aliasing %s", n, alias), e.get(out), want)
		}
	}
}

func testAddBias(e *env) {
	for _, s := range [][2]int{{1, 1}, {5, 3}, {64, 129}} {
		n, c := s[0], s[1]
		xv, bv := e.randn(n*c, 1), e.randn(c, 1)
		// x + 1·biasᵀ
		want := values(dense(n, c, f64(xv)).Add(ones(n, 1).Mul(dense(1, c, f64(bv)))))
		x, b := e.tensor(xv, n, c), e.tensor(bv, c)
		e.b.AddBias(x, b)
		e.near(name("AddBias %dx%d", n, c), e.get(x), want)
	}
}

func testBiasBackward(e *env) {
	for _, s := range [][2]int{{1, 1}, {5, 3}, {300, 257}} {
		n, c := s[0], s[1]
		dyv, d0 := e.randn(n*c, 1), e.randn(c, 1)
		// d0 + 1ᵀ·dy
		want := values(ones(1, n).Mul(dense(n, c, f64(dyv))).Add(dense(1, c, f64(d0))))
		db := e.tensor(d0, c)
		e.b.BiasBackward(db, e.tensor(dyv, n, c))
		e.near(name("BiasBackward %dx%d accumulates", n, c), e.get(db), want)
	}
}

func testSplitConcat(e *env) {
	n, widths := 9, []int{4, 1, 7}
	total := 12
	sv := e.randn(n*total, 1)
	src := e.tensor(sv, 3, 3, total)
	var dsts []*compute.Tensor
	for _, w := range widths {
		dsts = append(dsts, e.b.NewTensor(n, w))
	}
	e.b.SplitCols(dsts, src)
	off := 0
	for k, w := range widths {
		want := make([]float32, 0, n*w)
		for r := range n {
			want = append(want, sv[r*total+off:r*total+off+w]...)
		}
		e.exact(name("SplitCols part %d", k), e.get(dsts[k]), want)
		off += w
	}
	back := e.b.NewTensor(n, total)
	e.b.ConcatCols(back, dsts)
	e.exact("ConcatCols after SplitCols", e.get(back), sv)
}

func testEmbedding(e *env) {
	const v, d = 11, 6
	tv := e.randn(v*d, 1)
	ids := []int32{3, 0, 10, 3, 7}
	want := make([]float32, 0, len(ids)*d)
	for _, id := range ids {
		want = append(want, tv[int(id)*d:int(id+1)*d]...)
	}
	for _, tr := range []bool{false, true} {
		w := e.weight("table", tv, v, d, tr)
		out := e.b.NewTensor(len(ids), d)
		e.b.Embedding(out, w, ids)
		e.exact(name("Embedding transposed=%v", tr), e.get(out), want)
	}

	// The backward accumulates, repeated ids twice.
	d0, dout := e.randn(v*d, 1), e.randn(len(ids)*d, 1)
	ref := f64(d0)
	for i, id := range ids {
		for j := range d {
			ref[int(id)*d+j] += float64(dout[i*d+j])
		}
	}
	dt := e.tensor(d0, v, d)
	e.b.EmbeddingBackward(dt, e.tensor(dout, len(ids), d), ids)
	e.near("EmbeddingBackward", e.get(dt), ref)
}

func testGatherRows(e *env) {
	const n, c = 8, 5
	sv := e.randn(n*c, 1)
	rows := []int32{7, 2, 2, 0}
	out := e.b.NewTensor(len(rows), c)
	e.b.GatherRows(out, e.tensor(sv, n, c), rows)
	var want []float32
	for _, r := range rows {
		want = append(want, sv[int(r)*c:int(r+1)*c]...)
	}
	e.exact("GatherRows", e.get(out), want)
}

func testShapeChecks(e *env) {
	b := e.b
	x := e.tensor(e.randn(12, 1), 3, 4)
	w := e.weight("w", e.randn(20, 1), 5, 4, false)
	w3 := e.weight("w3", e.randn(15, 1), 5, 3, false)
	for _, c := range []struct {
		what string
		f    func()
	}{
		{"Linear with x of the wrong width", func() { b.Linear(b.NewTensor(3, 5), x, w3, nil) }},
		{"Linear with out of the wrong width", func() { b.Linear(b.NewTensor(3, 4), x, w, nil) }},
		{"Linear with a bias of the wrong size", func() { b.Linear(b.NewTensor(3, 5), x, w, b.NewTensor(4)) }},
		{"LinearBackwardInput with dx of the wrong width", func() { b.LinearBackwardInput(b.NewTensor(3, 3), b.NewTensor(3, 5), w, false) }},
		{"MatMul with mismatched inner sizes", func() { b.MatMul(b.NewTensor(3, 3), x, x, false, false, 1, 0) }},
		{"MatMul with c of the wrong shape", func() { b.MatMul(b.NewTensor(3, 4), x, x, false, true, 1, 0) }},
		{"Add of different sizes", func() { b.Add(b.NewTensor(12), x, b.NewTensor(11)) }},
		{"LayerNorm with w of the wrong size", func() {
			b.LayerNorm(b.NewTensor(3, 4), b.NewTensor(3), b.NewTensor(3), x, b.NewTensor(5), b.NewTensor(4), 1e-5)
		}},
		{"RMSNorm with rstd of the wrong size", func() { b.RMSNorm(b.NewTensor(3, 4), b.NewTensor(2), x, b.NewTensor(4), 1e-5) }},
		{"Attention with heads not a multiple of kvHeads", func() {
			q := b.NewTensor(2, 3*2)
			kv := b.NewTensor(2, 2*2)
			b.Attention(b.NewTensor(2, 6), nil, q, kv, kv, 1, 2, 2, 3, 2, 2)
		}},
		{"Attention with tk < tq", func() {
			q := b.NewTensor(3, 4)
			kv := b.NewTensor(2, 4)
			b.Attention(b.NewTensor(3, 4), nil, q, kv, kv, 1, 3, 2, 1, 1, 4)
		}},
		{"RoPE with the wrong geometry", func() { b.RoPE(x, 1, 3, 2, 4, 0, 10000) }},
		{"CrossEntropy with too few targets", func() { b.CrossEntropy(nil, x, []int32{1, 2}, 1) }},
		{"CrossEntropy with a target outside the vocabulary", func() { b.CrossEntropy(nil, x, []int32{1, 4, 0}, 1) }},
		{"GeluTanh of different sizes", func() { b.GeluTanh(b.NewTensor(3, 3), x) }},
		{"SplitCols whose parts do not add up", func() { b.SplitCols([]*compute.Tensor{b.NewTensor(3, 3)}, x) }},
		{"Embedding with an id outside the table", func() { b.Embedding(b.NewTensor(1, 4), w, []int32{5}) }},
	} {
		e.mustPanic(c.what, c.f)
	}
}
