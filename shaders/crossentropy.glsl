// crossentropy.glsl: softmax cross-entropy, one row of logits [N, V] per
// work group of WG invocations. loss[row] = logsumexp(row) - row[target]
// (0 for rows whose target is negative). With HAS_D, d receives
// scale·(softmax - onehot) on scored rows and 0 on the others; d may be the
// logits buffer itself (each element is read, then written, by one
// invocation, and the target logit is read before any write).
layout(std430, binding = 0) readonly buffer L { float logits[]; };
layout(std430, binding = 1) buffer D { float d[]; };
layout(std430, binding = 2) readonly buffer T { int targets[]; };
layout(std430, binding = 3) writeonly buffer Loss { float loss[]; };
uniform uint N, V, offL, offD;
uniform float scale;

void main() {
	uint row = rowIndex();
	if (row >= N) return;
	uint t = gl_LocalInvocationID.x;
	int tg = targets[row];
	uint lo = offL + row * V;
	if (tg < 0) {
		if (t == 0u) loss[row] = 0.0;
#ifdef HAS_D
		for (uint j = t; j < V; j += WG) d[offD + row * V + j] = 0.0;
#endif
		return;
	}
	float xt = logits[lo + uint(tg)];
	float mx = -3.402823466e38;
	for (uint j = t; j < V; j += WG) mx = max(mx, logits[lo + j]);
	mx = wgMax(mx);
	float s = 0.0;
	for (uint j = t; j < V; j += WG) s += exp(logits[lo + j] - mx);
	s = wgSum(s);
	float lse = mx + log(s);
	if (t == 0u) loss[row] = lse - xt;
#ifdef HAS_D
	float k = scale / s;
	for (uint j = t; j < V; j += WG) {
		float v;
		if (j == uint(tg)) {
			v = (exp(xt - lse) - 1.0) * scale;
		} else {
			v = exp(logits[lo + j] - mx) * k;
		}
		d[offD + row * V + j] = v;
	}
#endif
}
