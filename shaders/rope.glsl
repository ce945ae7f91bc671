// rope.glsl: rotate-half rotary embeddings in place. One invocation per
// (row, head, frequency) pair; cos and sin come from a table [seq, nhalf]
// built by the host exactly as the CPU backend builds it (Hugging Face's
// float32 angles). INVERSE selects the transposed rotation (the backward).
layout(local_size_x = 256) in;
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Cos { float cosv[]; };
layout(std430, binding = 2) readonly buffer Sin { float sinv[]; };
uniform uint rows, seq, heads, nhalf, offX;

void main() {
	uint total = rows * heads * nhalf;
	for (uint k = gl_GlobalInvocationID.x; k < total; k += gridStride()) {
		uint i = k % nhalf;
		uint h = (k / nhalf) % heads;
		uint row = k / (nhalf * heads);
		uint p = row % seq;
		uint base = offX + row * heads * 2u * nhalf + h * 2u * nhalf;
		float c = cosv[p * nhalf + i], s = sinv[p * nhalf + i];
		float u = x[base + i], v = x[base + nhalf + i];
#ifdef INVERSE
		precise float a = u * c + v * s;
		precise float b = v * c - u * s;
#else
		precise float a = u * c - v * s;
		precise float b = v * c + u * s;
#endif
		x[base + i] = a;
		x[base + nhalf + i] = b;
	}
}
