// Package cpu is the CPU implementation of compute.Backend.
//
// It is built on spago (github.com/nlpodyssey/spago), with the hot paths
// written here. Precisely:
//
// From spago:
//   - Every tensor made by the backend carries a spago float32 mat.Dense that
//     wraps its Data without copying (kept in Tensor.Dev), so tensors can be
//     handed to spago code as matrices.
//   - Add and Scale run through that wrapper: mat.Dense.AddInPlace and
//     mat.Dense.ProdScalarInPlace, which are spago's in-place, allocation-free
//     AVX/SSE kernels.
//   - The shared test suite (package compute/computetest) checks every
//     operation of this package against spago: forward values against
//     mat.Dense arithmetic in float64, gradients against spago's autograd
//     (package ag) wherever spago has the operations.
//
// Not from spago, and why:
//   - Matrix products (Linear, LinearBackwardInput, MatMul and the products
//     inside Attention) go through compute/cpu/gemm, a packed, multi-threaded
//     SGEMM. spago's matrix multiplication is single-threaded and reaches
//     5–9 GFLOP/s, far too slow for training; it also allocates its result.
//   - The fused operations (LayerNorm, RMSNorm, RoPE, attention, GELU,
//     SwiGLU, cross-entropy) and their backward passes are plain loops over
//     []float32 in this package. spago's equivalents are built from separate
//     operators that each allocate a result matrix and record an autograd
//     graph; a training step here must not allocate, must keep exactly the
//     intermediates its backward pass needs (mean/rstd, attention
//     probabilities or, through compute.FlashAttention (flash.go), only the
//     log-sum-exp of each query row, so that training memory grows linearly
//     with the sequence length), and must match PyTorch's formulas operation
//     by operation.
//   - The exponential behind softmax, cross-entropy, GELU and SiLU is an
//     AVX2+FMA kernel of this package (exp_amd64.s, Cephes' expf, within 3
//     float32 ulps), eight lanes at a time; a portable Go version serves
//     other CPUs and the purego build tag. spago has no in-place
//     exponential.
//
// Numerics follow PyTorch/Hugging Face: LayerNorm uses the biased variance;
// RMSNorm is x·rsqrt(mean(x²)+eps)·w; RoPE is rotate-half with the angles
// computed as HF does in float32 (inv_freq and pos·inv_freq rounded to
// float32, cos/sin of that value rounded to float32); attention scales by
// 1/sqrt(headDim), masks causally and maps query head h to KV head
// h/(heads/kvHeads); softmax subtracts the row maximum; GELU is the tanh form
// (computed as x·sigmoid(2u), the same function); cross-entropy accumulates
// its log-sum-exp in float64. Row reductions (means, variances, softmax sums)
// accumulate in float64.
//
// Work is spread over a fixed set of worker goroutines owned by the backend:
// the non-GEMM operations split their rows (attention: its batch×head pairs)
// into at most Threads contiguous parts when the work is large enough, and
// run on the calling goroutine when it is small. The split depends only on
// the shapes and the thread count, so results are reproducible run to run.
// Scratch memory (attention scores, per-part gradient partials, RoPE tables)
// belongs to the backend and is grown once, so a training step does not
// allocate once its shapes have been seen.
//
// A Backend is not safe for concurrent use: one goroutine drives it.
package cpu
