// optim.glsl: optimizer updates, elementwise over n parameters. Exactly one
// of ADAMW, SGD or SGD_MOMENTUM is defined; the bias corrections are folded
// into stepSize and invSqrtBC2 by the host, as the CPU backend does.
layout(local_size_x = 256) in;
layout(std430, binding = 0) buffer P { float p[]; };
layout(std430, binding = 1) readonly buffer G { float g[]; };
layout(std430, binding = 2) buffer M { float m[]; };
layout(std430, binding = 3) buffer V { float v[]; };
uniform uint n, offP, offG, offM, offV;
uniform float lr, beta1, beta2, eps, decay, stepSize, invSqrtBC2, momentum;
uniform uint first;

void main() {
	for (uint i = gl_GlobalInvocationID.x; i < n; i += gridStride()) {
		float gi = g[offG + i];
#if defined(ADAMW)
		float pi = p[offP + i] * decay;
		float mi = beta1 * m[offM + i] + (1.0 - beta1) * gi;
		float vi = beta2 * v[offV + i] + (1.0 - beta2) * gi * gi;
		m[offM + i] = mi;
		v[offV + i] = vi;
		float denom = sqrt(vi) * invSqrtBC2 + eps;
		p[offP + i] = pi - stepSize * mi / denom;
#elif defined(SGD)
		p[offP + i] -= lr * gi;
#elif defined(SGD_MOMENTUM)
		// m is the momentum buffer.
		float b = first != 0u ? gi : momentum * m[offM + i] + gi;
		m[offM + i] = b;
		p[offP + i] -= lr * b;
#else
#error "optim.glsl: no kernel defined"
#endif
	}
}
