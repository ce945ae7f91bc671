// common.glsl is prepended to every kernel, after "#version 430" and the
// kernel's defines.

// rowIndex is the row a one-row-per-work-group kernel works on (rows are
// spread over x and y so that more than 65535 fit in one dispatch).
uint rowIndex() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

// gridStride() is the distance between the elements one invocation of a
// one-dimensional grid-stride loop handles (a macro: gl_WorkGroupSize only
// exists after the kernel's layout declaration).
#define gridStride() (gl_NumWorkGroups.x * gl_WorkGroupSize.x)

#ifdef WG
// Kernels that define WG (a power of two) run WG invocations per work group
// and may use the work-group reductions below; every invocation of the
// group must call them (they hold barriers).
layout(local_size_x = WG) in;

// Two reduction arrays: a kernel that reduces twice in a row uses one, then
// the other (wgSum then wgSumB, wgMax then wgSumB). On NVIDIA (driver
// 580.159, H200) with more than one warp per group, a read of a reduction's
// result in red[0] took effect after the reduction's last barrier, when
// faster invocations had already begun the next reduction in the same
// array: the GLSL has no race, but the compiled code did (see
// crossentropy.glsl). With the next reduction in another array nothing
// overwrites red[0] while it may still be read.
shared float red[WG];
shared float redB[WG];

// WG_REDUCE defines NAME(v): OP over the v of every invocation of the
// group, through the shared array ARR, returned to all of them.
#define WG_REDUCE(NAME, ARR, OP) \
float NAME(float v) { \
	uint t = gl_LocalInvocationID.x; \
	ARR[t] = v; \
	memoryBarrierShared(); \
	barrier(); \
	for (uint s = WG / 2u; s > 0u; s >>= 1) { \
		if (t < s) ARR[t] = OP(ARR[t], ARR[t + s]); \
		memoryBarrierShared(); \
		barrier(); \
	} \
	float r = ARR[0]; \
	memoryBarrierShared(); \
	barrier(); \
	return r; \
}
#define WG_ADD(a, b) ((a) + (b))

WG_REDUCE(wgSum, red, WG_ADD)
WG_REDUCE(wgMax, red, max)
// wgSumB is wgSum over redB, for the second of two reductions in a row.
WG_REDUCE(wgSumB, redB, WG_ADD)

#endif
