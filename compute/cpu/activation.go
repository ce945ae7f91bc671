package cpu

// The scalar parts of the activations around the vector exponential (see
// elementwiseTask.run): geluArg / negate before it, geluOut, geluBack,
// siluMulOut and siluMulBack after.
// activation_amd64.s computes the same operations in the same order on eight
// lanes, so its results are bit for bit these (Go neither reorders float32
// arithmetic nor, at the default GOAMD64=v1, fuses it into FMAs).

// geluArgGo sets e[i] = -2·√(2/π)·(x + 0.044715x³), the exponent of
// gelu(x) = x/(1+e^(-2u)).
func geluArgGo(e, x []float32) {
	e = e[:len(x)]
	for i, v := range x {
		e[i] = -2 * geluK * (v + geluC*v*v*v)
	}
}

// geluOutGo sets out[i] = x[i]/(1+e[i]).
func geluOutGo(out, x, e []float32) {
	out, e = out[:len(x)], e[:len(x)]
	for i, v := range x {
		out[i] = v / (1 + e[i])
	}
}

// geluBackGo sets dx[i] = dout[i]·gelu'(x[i]) from e[i] = e^(-2u).
func geluBackGo(dx, dout, x, e []float32) {
	dx, dout, e = dx[:len(x)], dout[:len(x)], e[:len(x)]
	for i, v := range x {
		s := 1 / (1 + e[i])
		// d/dx x·s(2u) = s + 2x·s(1-s)·u'
		d := s + 2*v*s*(1-s)*geluK*(1+3*geluC*v*v)
		dx[i] = dout[i] * d
	}
}

// negateGo sets e[i] = -g[i], the exponent of silu(g) = g/(1+e^(-g)).
func negateGo(e, g []float32) {
	e = e[:len(g)]
	for i, v := range g {
		e[i] = -v
	}
}

// siluMulOutGo sets out[i] = g[i]/(1+e[i])·up[i] (SwiGLU: silu(gate)·up).
func siluMulOutGo(out, g, up, e []float32) {
	out, up, e = out[:len(g)], up[:len(g)], e[:len(g)]
	for i, v := range g {
		out[i] = v / (1 + e[i]) * up[i]
	}
}

// siluMulBackGo sets the gradients of out = silu(g)·up from e[i] = e^(-g):
// dup = dout·silu(g), dgate = dout·up·silu'(g).
func siluMulBackGo(dgate, dup, dout, g, up, e []float32) {
	dgate, dup, dout, up, e = dgate[:len(g)], dup[:len(g)], dout[:len(g)], up[:len(g)], e[:len(g)]
	for i, v := range g {
		s := 1 / (1 + e[i])
		d := dout[i]
		dup[i] = d * v * s
		dgate[i] = d * up[i] * s * (1 + v*(1-s))
	}
}
