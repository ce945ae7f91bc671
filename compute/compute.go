// Package compute defines what a compute backend does for Fynetune: the
// tensors it holds, the frozen weights it multiplies with, and the forward and
// backward operations the model code is written against.
//
// The model code (package model) is written once against Backend; the CPU
// backend (compute/cpu) and the OpenGL backend (compute/gl) implement the same
// operations with the same semantics, and one shared test suite runs against
// both.
//
// Conventions used by every operation:
//   - Tensors are dense, row-major float32. A tensor of shape [..., C] is seen
//     as a matrix of Rows() = product of the leading dims and Cols() = C.
//   - Outputs are overwritten unless an operation says it accumulates.
//   - Backward operations that produce gradients of parameters accumulate
//     into them (so gradient accumulation over micro-batches is free); input
//     gradients are overwritten unless stated otherwise.
//   - Token activations are laid out [B*T, D] with the sequence index fastest
//     after the batch index: row b*T+t holds batch b, position t. Attention
//     heads are packed along the last dimension, head h at columns
//     h*headDim .. (h+1)*headDim, exactly as Hugging Face's view(B,T,H,hd).
package compute

import "fmt"

// Tensor is a dense row-major float32 tensor owned by a Backend.
// On the CPU backend Data holds the values; a GPU backend keeps them in Dev
// and Data may be nil.
type Tensor struct {
	Shape []int
	Data  []float32
	Dev   any // device buffer, shared by views
	Off   int // offset in elements into Dev, for views of device tensors
}

// RowView returns the rows [start, start+n) of t as a tensor sharing t's
// storage, shaped [n, Cols()].
func (t *Tensor) RowView(start, n int) *Tensor {
	c := t.Cols()
	v := &Tensor{Shape: []int{n, c}, Dev: t.Dev, Off: t.Off + start*c}
	if t.Data != nil {
		v.Data = t.Data[start*c : (start+n)*c]
	}
	return v
}

// View returns the elements [off, off+n) of t, n the product of shape, as a
// tensor of that shape sharing t's storage.
func (t *Tensor) View(off int, shape ...int) *Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if off < 0 || n < 0 || off+n > t.Len() {
		panic(fmt.Sprintf("compute: View(%d, %v) of %v: out of range", off, shape, t))
	}
	v := &Tensor{Shape: append([]int(nil), shape...), Dev: t.Dev, Off: t.Off + off}
	if t.Data != nil {
		v.Data = t.Data[off : off+n : off+n]
	}
	return v
}

// Len is the number of elements.
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Cols is the size of the last dimension.
func (t *Tensor) Cols() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Shape[len(t.Shape)-1]
}

// Rows is the product of all dimensions but the last.
func (t *Tensor) Rows() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Len() / t.Cols()
}

func (t *Tensor) String() string { return fmt.Sprintf("Tensor%v", t.Shape) }

// DType is the storage format of a frozen weight.
type DType int

// Storage formats of frozen weights.
const (
	F32  DType = iota // float32
	F16               // IEEE half, widened inside the kernels
	BF16              // bfloat16, widened inside the kernels
	Q8                // int8 blockwise absmax (block 64), see compute/quant
	NF4               // 4-bit NormalFloat (QLoRA), block 64, see compute/quant
	Q8_0              // GGML Q8_0 (block 32, f16 scale)
	Q4_0              // GGML Q4_0 (block 32, f16 scale)
)

var dtypeNames = [...]string{"f32", "f16", "bf16", "int8", "nf4", "q8_0", "q4_0"}

func (d DType) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("DType(%d)", int(d))
}

// Weight is a frozen matrix of logical shape [Out, In], used as y = x·Wᵀ.
//
// Transposed weights are stored [In, Out] (GPT-2's Conv1D); backends multiply
// them in that layout rather than copying them. F32 weights may alias a
// memory-mapped checkpoint, so they must never be written to, except in full
// fine-tuning where the model owns a writable copy, or where Own says so.
type Weight struct {
	Name       string
	Out, In    int
	Transposed bool
	DType      DType
	F32        []float32 // values when DType == F32 (nil once rearranged in place: see Own)
	Raw        []byte    // packed payload of the other formats
	Dev        any       // backend-private form (packed panels, GPU buffer)

	// Own says F32 is this weight's own memory, which nothing else reads,
	// so that PrepareWeight may rearrange it in place (the CPU backend packs
	// it into its kernel's layout) rather than hold a second copy. F32 is
	// nil afterwards; Values reads the values back.
	Own bool
	// Trainable says an optimizer updates F32 in place between steps:
	// backends keep reading F32, and PrepareWeight refreshes whatever copy
	// of it they hold (a GPU buffer) rather than rearranging it.
	Trainable bool
}

// StoredShape returns the rows and columns of the matrix as stored:
// [Out, In], or [In, Out] when Transposed.
func (w *Weight) StoredShape() (rows, cols int) {
	if w.Transposed {
		return w.In, w.Out
	}
	return w.Out, w.In
}

// Unpacker is a prepared form of a weight (Weight.Dev) that holds the
// weight's values and can write them back in their stored layout.
type Unpacker interface {
	Unpack(dst []float32)
}

// Values returns a new copy of an f32 weight's values in their stored
// layout ([Out, In], or [In, Out] when Transposed): from F32, or from the
// prepared form when PrepareWeight rearranged F32 in place. It returns nil
// for the other dtypes.
func (w *Weight) Values() []float32 {
	if w.DType != F32 {
		return nil
	}
	if w.F32 == nil {
		if u, ok := w.Dev.(Unpacker); ok {
			v := make([]float32, w.Out*w.In)
			u.Unpack(v)
			return v
		}
	}
	return append([]float32(nil), w.F32...)
}

// Backend is a compute device. All tensors passed to a Backend's methods must
// have been made by that Backend. Shapes are checked by the backend and a
// mismatch panics: it is a programming error, never a user error.
type Backend interface {
	// Name says which backend and device this is, for logs and the UI.
	Name() string

	// NewTensor returns a zeroed tensor of the given shape.
	NewTensor(shape ...int) *Tensor
	// Upload copies host values into t (len(src) == t.Len()).
	Upload(t *Tensor, src []float32)
	// Download copies t's values to the host (len(dst) == t.Len()).
	Download(dst []float32, t *Tensor)
	// Zero sets every element of t to 0.
	Zero(t *Tensor)
	// PrepareWeight readies a frozen weight for repeated use (packing for the
	// CPU kernels, upload for a GPU). It is called once per weight at load,
	// and again after a Trainable weight's values change. With Own it may
	// rearrange F32 in place (and set it to nil: read values with Values).
	PrepareWeight(w *Weight)

	// Linear computes out[N,Out] = x[N,In]·Wᵀ (+ bias[Out] when bias != nil).
	Linear(out, x *Tensor, w *Weight, bias *Tensor)
	// LinearBackwardInput computes dx[N,In] (+)= dy[N,Out]·W; it accumulates
	// into dx when accumulate is true.
	LinearBackwardInput(dx, dy *Tensor, w *Weight, accumulate bool)
	// MatMul computes c = alpha·op(a)·op(b) + beta·c on 2-D views of f32
	// tensors, where op(x) is x or xᵀ by transA/transB. It serves the LoRA
	// projections and the gradients of trainable matrices.
	MatMul(c, a, b *Tensor, transA, transB bool, alpha, beta float32)

	// Embedding copies rows of table for ids into out[len(ids), D].
	Embedding(out *Tensor, table *Weight, ids []int32)
	// EmbeddingBackward accumulates dout's rows into dtable[V, D] at ids.
	// It also scatters gradients of gathered rows back (see GatherRows).
	EmbeddingBackward(dtable, dout *Tensor, ids []int32)
	// GatherRows copies rows src[rows[i]] into out[i] (out is [len(rows), C]).
	GatherRows(out, src *Tensor, rows []int32)

	// Add computes out = a + b elementwise (out may alias a or b).
	Add(out, a, b *Tensor)
	// AddBias adds bias[C] to every row of x in place.
	AddBias(x, bias *Tensor)
	// BiasBackward accumulates the column sums of dy into dbias[C].
	BiasBackward(dbias, dy *Tensor)
	// Scale multiplies x by s in place.
	Scale(x *Tensor, s float32)
	// Mul computes out = a ⊙ b elementwise (out may alias a or b).
	Mul(out, a, b *Tensor)
	// SumSquares returns Σx² accumulated in float64.
	SumSquares(x *Tensor) float64
	// Copy copies src into dst (same number of elements).
	Copy(dst, src *Tensor)
	// SplitCols copies column blocks of src[N, sum(C_i)] into dsts[i][N, C_i].
	SplitCols(dsts []*Tensor, src *Tensor)
	// ConcatCols copies srcs[i][N, C_i] side by side into dst[N, sum(C_i)];
	// it is the backward of SplitCols.
	ConcatCols(dst *Tensor, srcs []*Tensor)

	// LayerNorm: out = (x-mean)·rstd·w + b per row; mean[N] and rstd[N] are
	// saved for the backward pass.
	LayerNorm(out, mean, rstd, x, w, b *Tensor, eps float32)
	// LayerNormBackward writes dx and accumulates dw, db (either may be nil).
	LayerNormBackward(dx, dw, db, dout, x, mean, rstd, w *Tensor)
	// RMSNorm: out = x·rstd·w per row, rstd = 1/sqrt(mean(x²)+eps) saved.
	RMSNorm(out, rstd, x, w *Tensor, eps float32)
	// RMSNormBackward writes dx and accumulates dw (dw may be nil).
	RMSNormBackward(dx, dw, dout, x, rstd, w *Tensor)

	// RoPE rotates x[B*T, H*headDim] in place with rotate-half (GPT-NeoX/HF
	// Llama) rotary embeddings: position of row b*T+t is pos0+t.
	RoPE(x *Tensor, batch, seq, heads, headDim, pos0 int, theta float32)
	// RoPEBackward applies the inverse rotation to the gradient in place.
	RoPEBackward(dx *Tensor, batch, seq, heads, headDim, pos0 int, theta float32)

	// Attention is causal scaled-dot-product attention with grouped KV heads.
	// q is [B*Tq, H*hd]; k and v are [B*Tk, Hkv*hd] with Tk = pos0+Tq: query t
	// sits at absolute position pos0+t and sees keys 0..pos0+t. out is
	// [B*Tq, H*hd]. probs, when not nil, is [B, H, Tq, Tk] and receives the
	// softmax probabilities the backward pass needs.
	Attention(out, probs, q, k, v *Tensor, batch, tq, tk, heads, kvHeads, headDim int)
	// AttentionBackward writes dq, dk, dv from dout and the saved probs.
	AttentionBackward(dq, dk, dv, dout, probs, q, k, v *Tensor, batch, tq, tk, heads, kvHeads, headDim int)

	// GeluTanh: out = 0.5x(1+tanh(√(2/π)(x+0.044715x³))) (GPT-2's gelu_new).
	GeluTanh(out, x *Tensor)
	// GeluTanhBackward writes dx = dout·gelu'(x).
	GeluTanhBackward(dx, dout, x *Tensor)
	// SiluMul: out = silu(gate)·up (SwiGLU).
	SiluMul(out, gate, up *Tensor)
	// SiluMulBackward writes dgate and dup.
	SiluMulBackward(dgate, dup, dout, gate, up *Tensor)

	// CrossEntropy computes, for each row i of logits[N, V] with
	// targets[i] >= 0, -log softmax(logits[i])[targets[i]]; rows with target
	// -100 (any negative target) are not scored. It returns the sum of the
	// scored losses and their count. When dlogits is not nil it receives
	// scale·(softmax - onehot) on scored rows and 0 on the others.
	// dlogits may be logits itself.
	CrossEntropy(dlogits, logits *Tensor, targets []int32, scale float32) (sum float64, count int)

	// AdamW applies one torch.optim.AdamW step to p from its gradient g and
	// moments m, v (step counts from 1): p -= lr·wd·p; m = β1·m + (1-β1)·g;
	// v = β2·v + (1-β2)·g²; p -= lr/(1-β1^step) · m / (sqrt(v/(1-β2^step)) + eps).
	AdamW(p, g, m, v *Tensor, lr, beta1, beta2, eps, weightDecay float32, step int)
	// SGD applies p -= lr·d where d is g, or with momentum the buffer
	// buf = momentum·buf + g (buf = g at step 1), as torch.optim.SGD.
	SGD(p, g, buf *Tensor, lr, momentum float32, step int)
}

// IgnoreIndex marks a target position that is not scored.
const IgnoreIndex = -100

// FlashAttention is implemented by backends that can train attention
// without keeping the [T, T] probabilities: the forward pass saves only the
// log-sum-exp of each query row, and the backward pass recomputes the
// probabilities block by block.
//
// The semantics are those of Backend.Attention (causal, grouped KV heads,
// query t at absolute position tk-tq+t); memory grows with Tq, not Tq·Tk.
// The model uses these operations for training when its backend implements
// them, and Attention with probs otherwise.
type FlashAttention interface {
	// AttentionLSE computes out like Attention and writes lse [B, H, Tq],
	// the natural log of Σ_j exp(s_j) over the keys a query sees, where
	// s_j = q·k_j/√headDim are its scaled scores.
	AttentionLSE(out, lse, q, k, v *Tensor, batch, tq, tk, heads, kvHeads, headDim int)
	// AttentionBackwardLSE writes (overwrites) dq, dk, dv from dout, the
	// forward's out and lse, and q, k, v, as AttentionBackward does from
	// the saved probabilities.
	AttentionBackwardLSE(dq, dk, dv, dout, out, lse, q, k, v *Tensor, batch, tq, tk, heads, kvHeads, headDim int)
}
