// attention.glsl: the row kernels of causal attention; the products
// (scores = Q·Kᵀ, out = P·V and their gradients) run through matmul.glsl.
// One row of [B, H, Tq, Tk] per work group of WG invocations; query row t
// sees keys [0, pos0+t+1). Exactly one of SOFTMAX or SOFTMAX_BACK is defined.
layout(std430, binding = 0) buffer S { float sv[]; };
layout(std430, binding = 1) readonly buffer P { float pv[]; };
uniform uint rows, Tq, Tk, pos0, offS, offP;

void main() {
	uint row = rowIndex();
	if (row >= rows) return;
	uint t = gl_LocalInvocationID.x;
	uint lim = pos0 + row % Tq + 1u;
	uint o = offS + row * Tk;
#if defined(SOFTMAX)
	// sv holds the scaled scores; it receives the probabilities, 0 above
	// the causal diagonal.
	float mx = -3.402823466e38;
	for (uint j = t; j < lim; j += WG) mx = max(mx, sv[o + j]);
	mx = wgMax(mx);
	float s = 0.0;
	for (uint j = t; j < lim; j += WG) {
		float e = exp(sv[o + j] - mx);
		sv[o + j] = e;
		s += e;
	}
	float inv = 1.0 / wgSumB(s);
	for (uint j = t; j < lim; j += WG) sv[o + j] *= inv;
	for (uint j = lim + t; j < Tk; j += WG) sv[o + j] = 0.0;
#elif defined(SOFTMAX_BACK)
	// sv holds dP = dO·Vᵀ; it receives dS = P ⊙ (dP - Σ_j P·dP).
	uint po = offP + row * Tk;
	float d = 0.0;
	for (uint j = t; j < lim; j += WG) d += pv[po + j] * sv[o + j];
	d = wgSum(d);
	for (uint j = t; j < lim; j += WG) sv[o + j] = pv[po + j] * (sv[o + j] - d);
	for (uint j = lim + t; j < Tk; j += WG) sv[o + j] = 0.0;
#else
#error "attention.glsl: no kernel defined"
#endif
}
