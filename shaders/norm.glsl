// norm.glsl: LayerNorm and RMSNorm, forward and backward, one row per work
// group of WG invocations, and the column sums their parameter gradients
// (and the bias gradient) need. Exactly one of LAYERNORM, LAYERNORM_BACK,
// RMSNORM, RMSNORM_BACK, COLSUM or COLSUM_FINISH is defined.

#if defined(LAYERNORM)
// out = (x-mean)·rstd·w + b, mean and rstd saved.
layout(std430, binding = 0) writeonly buffer Out { float outv[]; };
layout(std430, binding = 1) writeonly buffer Mean { float meanv[]; };
layout(std430, binding = 2) writeonly buffer Rstd { float rstdv[]; };
layout(std430, binding = 3) readonly buffer X { float x[]; };
layout(std430, binding = 4) readonly buffer W { float w[]; };
layout(std430, binding = 5) readonly buffer Bias { float b[]; };
uniform uint N, C, offOut, offMean, offRstd, offX, offW, offB, hasB;
uniform float eps;

void main() {
	uint row = rowIndex();
	if (row >= N) return;
	uint t = gl_LocalInvocationID.x;
	uint xo = offX + row * C, oo = offOut + row * C;
	float s = 0.0;
	for (uint j = t; j < C; j += WG) s += x[xo + j];
	float m = wgSum(s) / float(C);
	float ss = 0.0;
	for (uint j = t; j < C; j += WG) {
		float d = x[xo + j] - m;
		ss += d * d;
	}
	float r = 1.0 / sqrt(wgSumB(ss) / float(C) + eps);
	for (uint j = t; j < C; j += WG) {
		float v = (x[xo + j] - m) * r * w[offW + j];
		if (hasB != 0u) v += b[offB + j];
		outv[oo + j] = v;
	}
	if (t == 0u) {
		meanv[offMean + row] = m;
		rstdv[offRstd + row] = r;
	}
}

#elif defined(LAYERNORM_BACK)
// dx = rstd·(g - mean(g) - x̂·mean(g·x̂)) with g = dout·w.
layout(std430, binding = 0) writeonly buffer DX { float dx[]; };
layout(std430, binding = 1) readonly buffer DOut { float dout[]; };
layout(std430, binding = 2) readonly buffer X { float x[]; };
layout(std430, binding = 3) readonly buffer Mean { float meanv[]; };
layout(std430, binding = 4) readonly buffer Rstd { float rstdv[]; };
layout(std430, binding = 5) readonly buffer W { float w[]; };
uniform uint N, C, offDX, offDOut, offX, offMean, offRstd, offW;

void main() {
	uint row = rowIndex();
	if (row >= N) return;
	uint t = gl_LocalInvocationID.x;
	uint ro = row * C;
	float m = meanv[offMean + row], r = rstdv[offRstd + row];
	float sg = 0.0, sgx = 0.0;
	for (uint j = t; j < C; j += WG) {
		float g = dout[offDOut + ro + j] * w[offW + j];
		sg += g;
		sgx += g * (x[offX + ro + j] - m) * r;
	}
	sg = wgSum(sg) / float(C);
	sgx = wgSumB(sgx) / float(C);
	for (uint j = t; j < C; j += WG) {
		float xh = (x[offX + ro + j] - m) * r;
		float g = dout[offDOut + ro + j] * w[offW + j];
		dx[offDX + ro + j] = r * (g - sg - xh * sgx);
	}
}

#elif defined(RMSNORM)
// out = (x·rstd)·w, rstd = 1/sqrt(mean(x²)+eps) saved.
layout(std430, binding = 0) writeonly buffer Out { float outv[]; };
layout(std430, binding = 1) writeonly buffer Rstd { float rstdv[]; };
layout(std430, binding = 2) readonly buffer X { float x[]; };
layout(std430, binding = 3) readonly buffer W { float w[]; };
uniform uint N, C, offOut, offRstd, offX, offW;
uniform float eps;

void main() {
	uint row = rowIndex();
	if (row >= N) return;
	uint t = gl_LocalInvocationID.x;
	uint xo = offX + row * C, oo = offOut + row * C;
	float ss = 0.0;
	for (uint j = t; j < C; j += WG) {
		float v = x[xo + j];
		ss += v * v;
	}
	float r = 1.0 / sqrt(wgSum(ss) / float(C) + eps);
	for (uint j = t; j < C; j += WG) {
		precise float xr = x[xo + j] * r;
		outv[oo + j] = xr * w[offW + j];
	}
	if (t == 0u) rstdv[offRstd + row] = r;
}

#elif defined(RMSNORM_BACK)
// dx = rstd·dout·w - x·rstd³·mean(dout·w·x).
layout(std430, binding = 0) writeonly buffer DX { float dx[]; };
layout(std430, binding = 1) readonly buffer DOut { float dout[]; };
layout(std430, binding = 2) readonly buffer X { float x[]; };
layout(std430, binding = 3) readonly buffer Rstd { float rstdv[]; };
layout(std430, binding = 4) readonly buffer W { float w[]; };
uniform uint N, C, offDX, offDOut, offX, offRstd, offW;

void main() {
	uint row = rowIndex();
	if (row >= N) return;
	uint t = gl_LocalInvocationID.x;
	uint ro = row * C;
	float r = rstdv[offRstd + row];
	float s = 0.0;
	for (uint j = t; j < C; j += WG) s += dout[offDOut + ro + j] * w[offW + j] * x[offX + ro + j];
	float k = r * r * r * wgSum(s) / float(C);
	for (uint j = t; j < C; j += WG) {
		dx[offDX + ro + j] = r * dout[offDOut + ro + j] * w[offW + j] - x[offX + ro + j] * k;
	}
}

#elif defined(COLSUM)
// Partial column sums over a block of rows: work group (gx, gy) sums
// columns gx·64.. of rows [gy·R, gy·R+R) into part[gy·C + j] (and, for
// LayerNorm, part[nparts·C + gy·C + j]). One of MODE_BIAS (dy), MODE_LN
// (dout·x̂ and dout) or MODE_RMS (dout·x·rstd) is defined.
layout(local_size_x = 64) in;
layout(std430, binding = 0) writeonly buffer Part { float part[]; };
layout(std430, binding = 1) readonly buffer DOut { float dout[]; };
layout(std430, binding = 2) readonly buffer X { float x[]; };
layout(std430, binding = 3) readonly buffer Mean { float meanv[]; };
layout(std430, binding = 4) readonly buffer Rstd { float rstdv[]; };
uniform uint N, C, R, nparts, offDOut, offX, offMean, offRstd;

void main() {
	uint j = gl_GlobalInvocationID.x;
	if (j >= C) return;
	uint r0 = gl_WorkGroupID.y * R, r1 = min(N, r0 + R);
	float s1 = 0.0, s2 = 0.0;
	for (uint i = r0; i < r1; i++) {
		float d = dout[offDOut + i * C + j];
#if defined(MODE_BIAS)
		s1 += d;
#elif defined(MODE_LN)
		s1 += d * (x[offX + i * C + j] - meanv[offMean + i]) * rstdv[offRstd + i];
		s2 += d;
#elif defined(MODE_RMS)
		s1 += d * x[offX + i * C + j] * rstdv[offRstd + i];
#endif
	}
	part[gl_WorkGroupID.y * C + j] = s1;
#if defined(MODE_LN)
	part[nparts * C + gl_WorkGroupID.y * C + j] = s2;
#endif
}

#elif defined(COLSUM_FINISH)
// dst[j] += Σ_g part[offPart + g·C + j], the parts summed in order.
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer Dst { float dst[]; };
layout(std430, binding = 1) readonly buffer Part { float part[]; };
uniform uint C, nparts, offDst, offPart;

void main() {
	uint j = gl_GlobalInvocationID.x;
	if (j >= C) return;
	float s = 0.0;
	for (uint g = 0u; g < nparts; g++) s += part[offPart + g * C + j];
	dst[offDst + j] += s;
}

#else
#error "norm.glsl: no kernel defined"
#endif
