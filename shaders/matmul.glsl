// matmul.glsl: tiled, register-blocked matrix product
//
//	C = alpha·op(A)·op(B) (+ bias[n]) + beta·C
//
// with op(A) [M, K] and op(B) [K, N]. Defines:
//   BM, BN, BK   the output tile (BM×BN) and the depth of a step
//   TM, TN       the outputs each invocation computes (TM×TN, multiples of
//                4: TM/4 runs of 4 rows strided by BM/TM·4 rows, TN/4 runs
//                of 4 columns strided by BN/TN·4, so that neighbouring
//                invocations touch neighbouring columns)
//   TRANS_A      A is stored [K, M] (op(A) = Aᵀ), else [M, K]
//   TRANS_B      B is stored [N, K] (op(B) = Bᵀ), else [K, N]
//   W_F16, W_BF16, W_Q8, W_NF4, W_Q8_0, W_Q4_0
//                B is a frozen weight packed in that format, read through
//                dequant.glsl's wload (the backend then includes that file
//                and it defines PACKED): dequantized while its tile is
//                loaded; else B is float32
// A work group computes one tile; gl_WorkGroupID.z walks a batch of
// products: z = zb·zH + zh offsets A by zb·strideAb + zh·strideAh, B by
// zb·strideBb + (zh/groupB)·strideBh (grouped KV heads) and C likewise.
// causal (attention) skips work known to be zero or unused:
//   1  outputs (m, n) with n > m + pos0 are not needed: tiles wholly above
//      that diagonal are skipped (and left unwritten)
//   2  op(A)[m, k] is 0 for k > m + pos0: the k loop stops there
//   3  op(A)[m, k] is 0 for k < m - pos0: the k loop starts there
// splitK, when not 0, splits the k loop instead of batching: work group z
// sums k in [z·splitK, (z+1)·splitK) into its own C (the host sets
// strideCb to one partial product and adds the partial products up
// afterwards, in order).
// With beta == 0, C is not read.
//   NT           (BM/TM)·(BN/TN), the invocations of a work group, as a
//                literal (GLSL 4.30 wants one in the layout)
layout(local_size_x = NT) in;

layout(std430, binding = 0) readonly buffer BufA { float A[]; };
#ifndef PACKED
layout(std430, binding = 1) readonly buffer BufB { float B[]; };
uniform uint ldb;
#endif
layout(std430, binding = 2) buffer BufC { float C[]; };
layout(std430, binding = 3) readonly buffer BufBias { float bias[]; };

uniform uint M, N, K;
uniform uint lda, ldc;
uniform uint offA, offB, offC, offBias;
uniform float alpha, beta;
uniform uint hasBias;
uniform uint zH, groupB;
uniform uint strideAb, strideAh, strideBb, strideBh, strideCb, strideCh;
uniform uint causal, pos0;
uniform uint splitK;

// The tiles in shared memory, k-major, as vec4 so that an invocation reads
// four neighbouring rows (columns) at once; rows padded by one vec4 so that
// the loads of a transposed operand hit distinct banks.
shared vec4 As[BK][BM / 4u + 1u];
shared vec4 Bs[BK][BN / 4u + 1u];

void main() {
#ifdef PACKED
	dequantInit();
#endif
	uint tid = gl_LocalInvocationID.x;
	uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
	uint z = gl_WorkGroupID.z;
	uint zb = z / zH, zh = z % zH;
	uint oA = offA + zb * strideAb + zh * strideAh;
	uint oB = offB + zb * strideBb + (zh / groupB) * strideBh;
	uint oC = offC + zb * strideCb + zh * strideCh;

	uint kBeg = 0u, kEnd = K;
	if (causal == 1u && n0 > m0 + BM - 1u + pos0) return;
	if (causal == 2u) kEnd = min(K, m0 + BM + pos0);
	if (causal == 3u && m0 > pos0) kBeg = m0 - pos0;
	if (splitK != 0u) {
		kBeg = z * splitK;
		kEnd = min(kEnd, kBeg + splitK);
	}

	// Invocation (tr, tc) computes rows (ii·RM + tr)·4 + i and columns
	// (jj·RN + tc)·4 + j of the tile, for ii < TM/4, jj < TN/4, i, j < 4.
	const uint RM = BM / TM, RN = BN / TN;
	const uint MV = TM / 4u, NV = TN / 4u;
	uint tr = tid / RN, tc = tid % RN;
	vec4 acc[TM][NV];
	for (uint i = 0u; i < TM; i++)
		for (uint j = 0u; j < NV; j++) acc[i][j] = vec4(0.0);

	for (uint k0 = kBeg; k0 < kEnd; k0 += BK) {
		// Each invocation stores whole vec4s (four neighbouring rows or
		// columns at one k) into the tiles.
		for (uint i = tid; i < BM / 4u * BK; i += NT) {
#ifdef TRANS_A
			uint kk = i / (BM / 4u), mq = i % (BM / 4u);
#else
			uint mq = i / BK, kk = i % BK;
#endif
			uint gm = m0 + 4u * mq, gk = k0 + kk;
			vec4 v = vec4(0.0);
			if (gk < kEnd) {
				for (uint r = 0u; r < 4u; r++) {
					if (gm + r < M) {
#ifdef TRANS_A
						v[r] = A[oA + gk * lda + gm + r];
#else
						v[r] = A[oA + (gm + r) * lda + gk];
#endif
					}
				}
			}
			As[kk][mq] = v;
		}
		for (uint i = tid; i < BN / 4u * BK; i += NT) {
#ifdef TRANS_B
			uint nq = i / BK, kk = i % BK;
#else
			uint kk = i / (BN / 4u), nq = i % (BN / 4u);
#endif
			uint gn = n0 + 4u * nq, gk = k0 + kk;
			vec4 v = vec4(0.0);
			if (gk < kEnd) {
				for (uint r = 0u; r < 4u; r++) {
					if (gn + r < N) {
#if defined(PACKED) && defined(TRANS_B)
						v[r] = wload(gn + r, gk);
#elif defined(PACKED)
						v[r] = wload(gk, gn + r);
#elif defined(TRANS_B)
						v[r] = B[oB + (gn + r) * ldb + gk];
#else
						v[r] = B[oB + gk * ldb + gn + r];
#endif
					}
				}
			}
			Bs[kk][nq] = v;
		}
		memoryBarrierShared();
		barrier();
		for (uint kk = 0u; kk < BK; kk++) {
			vec4 a[MV], b[NV];
			for (uint ii = 0u; ii < MV; ii++) a[ii] = As[kk][ii * RM + tr];
			for (uint jj = 0u; jj < NV; jj++) b[jj] = Bs[kk][jj * RN + tc];
			for (uint ii = 0u; ii < MV; ii++)
				for (uint i = 0u; i < 4u; i++)
					for (uint jj = 0u; jj < NV; jj++)
						acc[ii * 4u + i][jj] = fma(vec4(a[ii][i]), b[jj], acc[ii * 4u + i][jj]);
		}
		memoryBarrierShared();
		barrier();
	}

	for (uint ii = 0u; ii < MV; ii++) {
		for (uint i = 0u; i < 4u; i++) {
			uint gm = m0 + (ii * RM + tr) * 4u + i;
			if (gm >= M) continue;
			for (uint jj = 0u; jj < NV; jj++) {
				for (uint j = 0u; j < 4u; j++) {
					uint gn = n0 + (jj * RN + tc) * 4u + j;
					if (gn >= N) continue;
					float v = alpha * acc[ii * 4u + i][jj][j];
					if (hasBias != 0u) v += bias[offBias + gn];
					uint ci = oC + gm * ldc + gn;
					if (beta != 0.0) v += beta * C[ci];
					C[ci] = v;
				}
			}
		}
	}
}
