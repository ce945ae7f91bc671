// crossentropy.glsl: softmax cross-entropy, one row of logits [N, V] per
// work group of WG invocations (a power of two). loss[row] =
// logsumexp(row) - row[target] (0 for rows whose target is negative). With
// HAS_D, d receives scale·(softmax - onehot) on scored rows and 0 on the
// others; d may be the logits buffer itself (each element is read, then
// written, by one invocation, and the target logit is read before any
// write).
//
// One pass: each invocation keeps the running maximum m of its share of
// the row and the sum s of exp(x - m), rescaled whenever m grows; one
// reduction of the (m, s) pairs, in shared arrays of its own that nothing
// writes after it, then gives the row's maximum and sum.
//
// Why the work group was held at 32: the kernel before this one took the
// maximum with wgMax, then summed exp(x - max) with wgSum, both through
// the one shared array red[] of common.glsl. On NVIDIA (driver 580.159,
// H200) with two warps or more per group, some invocations summed their
// exps with a "maximum" that was a small positive number, the partial sum
// that invocation 0 had meanwhile written to red[0] on entering wgSum,
// while the same variable, stored at the end of the kernel, held the true
// maximum: their read of wgMax's result took effect after wgMax's last
// barrier, once faster invocations were already reusing red[]. Seen per
// invocation, they were the lanes of the one warp whose loop ran one
// iteration fewer than its neighbours' (24 of 64 at V=1000), at V=50257
// whole warps. As written the GLSL has no race (barrier() orders shared
// memory), so the driver's compiler moves or repeats that shared load; a
// group of one warp runs in lockstep, so no invocation can be in wgSum
// while another still reads red[0], and 32 was always right. Here no
// shared value is read after a barrier that lets others overwrite it.
layout(std430, binding = 0) readonly buffer L { float logits[]; };
layout(std430, binding = 1) buffer D { float d[]; };
layout(std430, binding = 2) readonly buffer T { int targets[]; };
layout(std430, binding = 3) writeonly buffer Loss { float loss[]; };
uniform uint N, V, offL, offD;
uniform float scale;

shared float redM[WG], redS[WG];

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
	float m = -3.402823466e38, s = 0.0;
	for (uint j = t; j < V; j += WG) {
		float x = logits[lo + j];
		float nm = max(m, x);
		s = s * exp(m - nm) + exp(x - nm);
		m = nm;
	}
	redM[t] = m;
	redS[t] = s;
	memoryBarrierShared();
	barrier();
	for (uint k = WG / 2u; k > 0u; k >>= 1) {
		if (t < k) {
			float m1 = redM[t], m2 = redM[t + k];
			float mm = max(m1, m2);
			redS[t] = redS[t] * exp(m1 - mm) + redS[t + k] * exp(m2 - mm);
			redM[t] = mm;
		}
		memoryBarrierShared();
		barrier();
	}
	float mx = redM[0];
	s = redS[0];
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
