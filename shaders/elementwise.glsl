// elementwise.glsl: one-dimensional elementwise kernels with a grid-stride
// loop over n elements. Exactly one OP_* is defined:
//   OP_ADD          o1 = i1 + i2
//   OP_MUL          o1 = i1 * i2
//   OP_SCALE        o1 *= s
//   OP_ADD_BIAS     o1[i] += i1[i % cols]
//   OP_COPY2D       o1[r*ldo + j] = i1[r*ldi + j], i = r*cols + j
//   OP_GELU         o1 = gelu_tanh(i1)
//   OP_GELU_BACK    o1 = i1 * gelu_tanh'(i2)
//   OP_SILU_MUL     o1 = silu(i1) * i2
//   OP_SILU_MUL_BACK  o1 = dgate, o2 = dup from dout i1, gate i2, up i3
//   OP_SPLITK       the end of a split-k matmul: o1[r*ldo + j] =
//                   s·Σ_z i1[z*n + i] (+ i2[j] when hasBias) (+ beta·o1),
//                   i = r*cols + j, the nsplit partial products in order
// Offsets off0..off4 are in elements into o1, o2, i1, i2, i3.
layout(local_size_x = 256) in;

layout(std430, binding = 0) buffer O1 { float o1[]; };
layout(std430, binding = 1) buffer O2 { float o2[]; };
layout(std430, binding = 2) readonly buffer I1 { float i1[]; };
layout(std430, binding = 3) readonly buffer I2 { float i2[]; };
layout(std430, binding = 4) readonly buffer I3 { float i3[]; };

uniform uint n;
uniform uint off0, off1, off2, off3, off4;
uniform uint cols, ldo, ldi;
uniform float s;
uniform float beta;
uniform uint nsplit, hasBias;

// The constants of gelu_new: sqrt(2/pi) and the cubic coefficient.
const float geluK = 0.7978845608028654;
const float geluC = 0.044715;

void main() {
	for (uint i = gl_GlobalInvocationID.x; i < n; i += gridStride()) {
#if defined(OP_ADD)
		o1[off0 + i] = i1[off2 + i] + i2[off3 + i];
#elif defined(OP_MUL)
		o1[off0 + i] = i1[off2 + i] * i2[off3 + i];
#elif defined(OP_SCALE)
		o1[off0 + i] *= s;
#elif defined(OP_ADD_BIAS)
		o1[off0 + i] += i1[off2 + i % cols];
#elif defined(OP_COPY2D)
		uint r = i / cols, j = i % cols;
		o1[off0 + r * ldo + j] = i1[off2 + r * ldi + j];
#elif defined(OP_SPLITK)
		float acc = 0.0;
		for (uint z = 0u; z < nsplit; z++) acc += i1[off2 + z * n + i];
		uint r = i / cols, j = i % cols;
		float v = s * acc;
		if (hasBias != 0u) v += i2[off3 + j];
		uint ci = off0 + r * ldo + j;
		if (beta != 0.0) v += beta * o1[ci];
		o1[ci] = v;
#elif defined(OP_GELU)
		// 0.5x(1+tanh(u)) = x·sigmoid(2u), as the CPU backend computes it.
		float x = i1[off2 + i];
		float e = exp(-2.0 * geluK * (x + geluC * x * x * x));
		o1[off0 + i] = x / (1.0 + e);
#elif defined(OP_GELU_BACK)
		float x = i2[off3 + i];
		float e = exp(-2.0 * geluK * (x + geluC * x * x * x));
		float sg = 1.0 / (1.0 + e);
		float d = sg + 2.0 * x * sg * (1.0 - sg) * geluK * (1.0 + 3.0 * geluC * x * x);
		o1[off0 + i] = i1[off2 + i] * d;
#elif defined(OP_SILU_MUL)
		float g = i1[off2 + i];
		o1[off0 + i] = g / (1.0 + exp(-g)) * i2[off3 + i];
#elif defined(OP_SILU_MUL_BACK)
		float g = i2[off3 + i];
		float sg = 1.0 / (1.0 + exp(-g));
		float d = i1[off2 + i];
		float u = i3[off4 + i];
		o2[off1 + i] = d * g * sg;
		o1[off0 + i] = d * u * sg * (1.0 + g * (1.0 - sg));
#else
#error "elementwise.glsl: no OP_* defined"
#endif
	}
}
