// reduce.glsl: SUMSQ writes, per work group of WG invocations, the partial
// sum of x² over its grid-stride share of n elements into part[group]; the
// host adds the partial sums in float64.
layout(std430, binding = 0) writeonly buffer Part { float part[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
uniform uint n, offX;

void main() {
	float s = 0.0;
	for (uint i = gl_GlobalInvocationID.x; i < n; i += gridStride()) {
		float v = x[offX + i];
		s += v * v;
	}
	s = wgSum(s);
	if (gl_LocalInvocationID.x == 0u) part[gl_WorkGroupID.x] = s;
}
