// dequant.glsl is included (after common.glsl, before the kernel) by kernels
// that read a frozen weight packed in a compact format, selected by one of
// W_F16, W_BF16, W_Q8, W_Q8_0 (with QB, the block size), W_NF4 or W_Q4_0.
// The weight is bound at binding 1 as words Bq. The host prepares the
// packed layout from compute/quant's payloads: for a weight of R rows × ldb
// columns in blocks of QB values along a row (nb = ceil(ldb/QB) blocks a
// row, block k = r·nb + c/QB), the codes come first, at their bit width,
// then from word scaleOff one float32 scale per block (NF4: the absmax,
// double quantization already undone; Q8: absmax/127; Q8_0, Q4_0: the f16
// scale widened). F16 and BF16 are the payload as it is, from element wOff
// (a weight too large to bind whole is bound a range of rows at a time).
#define PACKED 1
layout(std430, binding = 1) readonly buffer BufB { uint Bq[]; };
uniform uint ldb, nb, scaleOff;
uniform uint wOff; // F16, BF16: the element of the bound range where the matrix starts
#ifdef W_NF4
uniform float nf4[16]; // compute/quant's NF4Codebook
shared float nf4s[16]; // its copy in shared memory: neighbouring invocations look up different codes
#endif

// dequantInit prepares the decoding; every invocation of the work group
// (of at least 16) calls it before wload, in uniform control flow.
void dequantInit() {
#ifdef W_NF4
	if (gl_LocalInvocationIndex < 16u) nf4s[gl_LocalInvocationIndex] = nf4[gl_LocalInvocationIndex];
	memoryBarrierShared();
	barrier();
#endif
}

uint byteAt(uint i) { return (Bq[i >> 2] >> ((i & 3u) * 8u)) & 0xffu; }

// wload returns the weight's value at stored row r, column c.
float wload(uint r, uint c) {
#if defined(W_F16)
	uint i = wOff + r * ldb + c;
	vec2 h = unpackHalf2x16(Bq[i >> 1]);
	return (i & 1u) == 0u ? h.x : h.y;
#elif defined(W_BF16)
	uint i = wOff + r * ldb + c;
	uint w = Bq[i >> 1];
	return uintBitsToFloat((i & 1u) == 0u ? (w << 16) : (w & 0xffff0000u));
#elif defined(W_Q8) || defined(W_Q8_0)
	// QB signed bytes a block.
	uint k = r * nb + c / QB, j = c % QB;
	int q = int(byteAt(k * QB + j) << 24) >> 24;
	return float(q) * uintBitsToFloat(Bq[scaleOff + k]);
#elif defined(W_NF4)
	// 64 codes a block in 32 bytes, value 2j in the high nibble of byte j.
	uint k = r * nb + c / 64u, j = c % 64u;
	uint b = byteAt(k * 32u + j / 2u);
	uint code = (j & 1u) == 0u ? (b >> 4) : (b & 15u);
	return nf4s[code] * uintBitsToFloat(Bq[scaleOff + k]);
#elif defined(W_Q4_0)
	// 32 values a block in 16 bytes: value j in the low nibble of byte j,
	// value j+16 in its high nibble.
	uint k = r * nb + c / 32u, j = c % 32u;
	uint b = byteAt(k * 16u + (j & 15u));
	uint q = j < 16u ? (b & 15u) : (b >> 4);
	return float(int(q) - 8) * uintBitsToFloat(Bq[scaleOff + k]);
#else
#error "dequant.glsl: no W_* format defined"
#endif
}
