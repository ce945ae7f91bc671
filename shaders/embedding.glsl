// embedding.glsl: row gathers and their deterministic scatter-add.
// Exactly one kernel is defined:
//   GATHER       out[i, :] = src[ids[i], :]  (src [V, D], or with TRANS
//                stored [D, V] so that row id is column id, or with a W_*
//                format a packed table [V, D] read through dequant.glsl)
//   SCATTER_ADD  dst[id, :] += Σ dout[p, :] over the positions p of id, in
//                increasing order: one invocation per (distinct id, column)
//                walks that id's positions, so no float atomics are needed
//                and the sums come out in the CPU backend's order.
layout(local_size_x = 256) in;

#if defined(GATHER)
layout(std430, binding = 0) writeonly buffer Out { float outv[]; };
#ifndef PACKED
layout(std430, binding = 1) readonly buffer Src { float src[]; };
#endif
layout(std430, binding = 2) readonly buffer Ids { int ids[]; };
uniform uint n, D, V, offOut, offSrc;

void main() {
#ifdef PACKED
	dequantInit();
#endif
	uint total = n * D;
	for (uint k = gl_GlobalInvocationID.x; k < total; k += gridStride()) {
		uint i = k / D, j = k % D;
		if (ids[i] < 0) continue; // not in the bound range of a large table
		uint id = uint(ids[i]);
#if defined(PACKED)
		outv[offOut + k] = wload(id, j); // a packed table, stored [V, D]
#elif defined(TRANS)
		outv[offOut + k] = src[offSrc + j * V + id];
#else
		outv[offOut + k] = src[offSrc + id * D + j];
#endif
	}
}

#elif defined(SCATTER_ADD)
layout(std430, binding = 0) buffer Dst { float dst[]; };
layout(std430, binding = 1) readonly buffer DOut { float dout[]; };
// uniq[u] is the u-th distinct id; its positions are pos[start[u]..start[u+1]).
layout(std430, binding = 2) readonly buffer Uniq { int uniq[]; };
layout(std430, binding = 3) readonly buffer Start { int start[]; };
layout(std430, binding = 4) readonly buffer Pos { int pos[]; };
uniform uint U, D, offDst, offDOut;

void main() {
	uint total = U * D;
	for (uint k = gl_GlobalInvocationID.x; k < total; k += gridStride()) {
		uint u = k / D, j = k % D;
		uint di = offDst + uint(uniq[u]) * D + j;
		float acc = dst[di];
		int e = start[u + 1u];
		for (int p = start[u]; p < e; p++) acc += dout[offDOut + uint(pos[p]) * D + j];
		dst[di] = acc;
	}
}

#else
#error "embedding.glsl: no kernel defined"
#endif
