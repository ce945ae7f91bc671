package model

import (
	"github.com/fynetune/fynetune/compute"
)

// KeepMode says which activations a forward pass keeps for a backward pass.
type KeepMode int

const (
	// KeepNone is inference: one set of layer buffers serves every layer.
	KeepNone KeepMode = iota
	// KeepLean keeps, per layer, what backward cannot get back cheaply: the
	// block input, q/k/v, the MLP pre-activations (and per-row norm and
	// attention statistics). Norm outputs and the MLP activation are
	// recomputed in backward, only where a trainable module needs its input;
	// the MLP output is never needed; the attention output is recomputed
	// from q/k/v and the saved log-sum-exp (no matmul), and the residual
	// after attention from it and the block input (one output projection),
	// into the next block's input buffer, which is free by then. Eight
	// D-wide rows per token and layer are kept for a GPT-2 block, against
	// twenty when everything was kept.
	KeepLean
	// KeepInputs is gradient checkpointing: each layer keeps only its input,
	// and backward reruns the block's forward, up to the MLP's input
	// projections, before its backward (about two thirds of another forward
	// pass of the blocks per step; the LM head is not rerun).
	KeepInputs
)

func (k KeepMode) String() string {
	return [...]string{"none", "lean", "inputs"}[k]
}

// Acts holds the buffers of one forward pass over a batch of B sequences of T
// tokens, allocated once (llm.c style) and reused every step. Mode says what
// stays valid for the backward pass (see KeepMode); Keep is Mode != KeepNone.
type Acts struct {
	B, T int
	Keep bool
	Mode KeepMode

	// X[l] is the residual stream entering block l; X[Layers] leaves the last
	// block. These are the "hidden.N" tensors of the golden files.
	X      []*compute.Tensor
	Layers []LayerActs

	Final     *compute.Tensor // final norm output [BT, D]
	FinalMean *compute.Tensor // [BT] (LayerNorm only)
	FinalRstd *compute.Tensor // [BT]
	pos       []int32         // position ids for learned position embeddings
	posEmb    *compute.Tensor
}

// LayerActs are the intermediate values of one block. Under KeepLean the
// fields marked "shared" are one buffer for all layers, valid only during
// that layer's forward (or after backward recomputes them).
type LayerActs struct {
	Norm1, Mean1, Rstd1 *compute.Tensor // attention-norm output (shared) and its statistics
	QKV                 *compute.Tensor // fused projection (GPT-2) [BT, 3D] (shared)
	Q, K, V             *compute.Tensor // [BT, H*hd], [BT, Hkv*hd] (after RoPE for Q, K)
	Probs               *compute.Tensor // attention probabilities [B, H, T, T] (training, backends without FlashAttention)
	LSE                 *compute.Tensor // log-sum-exp of the attention scores [B, H, T] (training with FlashAttention)
	Att                 *compute.Tensor // attention output [BT, H*hd] (shared)
	AttProj             *compute.Tensor // o_proj output [BT, D] (shared)
	Norm2, Mean2, Rstd2 *compute.Tensor // MLP-norm output (shared) and its statistics
	Gate, Up            *compute.Tensor // MLP projections [BT, F] (GPT-2 uses Up for c_fc)
	Act                 *compute.Tensor // activation output [BT, F] (shared)
	MLPOut              *compute.Tensor // down projection [BT, D] (shared)
}

// NewActs allocates the buffers for batches of b×t tokens; keep says whether
// they serve a backward pass (KeepLean) or inference only (KeepNone).
func (m *Model) NewActs(b, t int, keep bool) *Acts {
	if keep {
		return m.NewActsMode(b, t, KeepLean)
	}
	return m.NewActsMode(b, t, KeepNone)
}

// NewActsMode allocates the buffers for batches of b×t tokens, keeping what
// mode says. For the backward pass attention keeps, per layer, the
// log-sum-exp of each query row ([B, H, T], LSE) when the backend implements
// compute.FlashAttention, so that memory grows linearly with T; otherwise
// the probabilities ([B, H, T, T], Probs).
func (m *Model) NewActsMode(b, t int, mode KeepMode) *Acts {
	c, be := m.Config, m.Be
	n := b * t
	a := &Acts{B: b, T: t, Keep: mode != KeepNone, Mode: mode}
	a.X = make([]*compute.Tensor, c.Layers+1)
	if mode != KeepNone {
		for i := range a.X {
			a.X[i] = be.NewTensor(n, c.Dim)
		}
	} else {
		// Inference: block l reads X[l] and writes X[l+1], so two buffers
		// used alternately serve every layer.
		two := [2]*compute.Tensor{be.NewTensor(n, c.Dim), be.NewTensor(n, c.Dim)}
		for i := range a.X {
			a.X[i] = two[i%2]
		}
	}
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	// The buffers backward does not read, or recomputes right before it
	// reads them, are shared by all layers. Within a block their lives do
	// not overlap, so two buffers hold them all: one D wide for the norm
	// outputs and the projections back to the residual, one for the fused
	// QKV, then the attention output, then the MLP activation.
	narrow := be.NewTensor(n, c.Dim)
	wide := be.NewTensor(n * max(c.FFN, q, 3*c.Dim))
	shared := LayerActs{Norm1: narrow, Norm2: narrow, AttProj: narrow, MLPOut: narrow,
		Att: reshape(wide, n, q), Act: reshape(wide, n, c.FFN)}
	if c.Arch == ArchGPT2 {
		shared.QKV = reshape(wide, n, 3*c.Dim)
	}
	nl := 1
	if mode == KeepLean {
		nl = c.Layers
	}
	a.Layers = make([]LayerActs, nl)
	for i := range a.Layers {
		L := &a.Layers[i]
		*L = shared
		L.Rstd1, L.Rstd2 = be.NewTensor(n), be.NewTensor(n)
		if c.Arch == ArchGPT2 {
			L.Mean1, L.Mean2 = be.NewTensor(n), be.NewTensor(n)
		}
		L.Q, L.K, L.V = be.NewTensor(n, q), be.NewTensor(n, kv), be.NewTensor(n, kv)
		if mode != KeepNone {
			if _, ok := be.(compute.FlashAttention); ok {
				L.LSE = be.NewTensor(b, c.Heads, t)
			} else {
				L.Probs = be.NewTensor(b, c.Heads, t, t)
			}
		}
		L.Up = be.NewTensor(n, c.FFN)
		if c.Arch == ArchLlama {
			L.Gate = be.NewTensor(n, c.FFN)
		}
	}
	a.Final, a.FinalRstd = be.NewTensor(n, c.Dim), be.NewTensor(n)
	if c.Arch == ArchGPT2 {
		a.FinalMean = be.NewTensor(n)
		a.pos = make([]int32, n)
		a.posEmb = be.NewTensor(n, c.Dim)
	}
	return a
}

// reshape returns a view of the first elements of t's storage with another
// shape.
func reshape(t *compute.Tensor, shape ...int) *compute.Tensor {
	v := &compute.Tensor{Shape: shape, Dev: t.Dev, Off: t.Off}
	if t.Data != nil {
		v.Data = t.Data[:v.Len()]
	}
	return v
}

func (a *Acts) layer(l int) *LayerActs {
	if a.Mode == KeepLean {
		return &a.Layers[l]
	}
	return &a.Layers[0]
}

// KVCache holds the keys and values of past positions of one sequence, for
// generation one token at a time.
type KVCache struct {
	K, V []*compute.Tensor // per layer [MaxLen, Hkv*hd]
	Len  int               // positions filled
	Max  int
}

// NewKVCache allocates a cache for sequences of up to max tokens.
func (m *Model) NewKVCache(max int) *KVCache {
	c := m.Config
	kc := &KVCache{Max: max}
	kv := c.KVHeads * c.HeadDim
	for range c.Layers {
		kc.K = append(kc.K, m.Be.NewTensor(max, kv))
		kc.V = append(kc.V, m.Be.NewTensor(max, kv))
	}
	return kc
}

// Forward runs the blocks and the final norm over ids [B*T] (row-major
// batches), leaving the normalised hidden states in a.Final. When cache is
// not nil (B must be 1) the tokens continue the cached sequence at position
// cache.Len, and their keys and values are appended to it.
func (m *Model) Forward(a *Acts, ids []int32, cache *KVCache) {
	c, be := m.Config, m.Be
	B, T := a.B, a.T
	if len(ids) != B*T {
		panic("model: Forward: len(ids) != B*T")
	}
	pos0 := 0
	if cache != nil {
		if B != 1 {
			panic("model: Forward: a KV cache serves one sequence")
		}
		pos0 = cache.Len
		if pos0+T > cache.Max {
			panic("model: Forward: KV cache full")
		}
	}
	be.Embedding(a.X[0], m.Embed, ids)
	if c.Arch == ArchGPT2 {
		for b := range B {
			for t := range T {
				a.pos[b*T+t] = int32(pos0 + t)
			}
		}
		be.Embedding(a.posEmb, m.PosEmbed, a.pos)
		be.Add(a.X[0], a.X[0], a.posEmb)
	}
	for l := range c.Layers {
		m.blockForward(a, l, pos0, cache, false)
	}
	m.norm(a.Final, a.FinalMean, a.FinalRstd, a.X[c.Layers], m.NormW, m.NormB)
	if cache != nil {
		cache.Len += T
	}
}

// norm computes out = the architecture's norm of x (GPT-2: LayerNorm with
// weight w and bias b; Llama: RMSNorm with weight w), keeping the per-row
// statistics backward reads: mean (LayerNorm only) and rstd.
func (m *Model) norm(out, mean, rstd, x, w, b *compute.Tensor) {
	c := m.Config
	if c.Arch == ArchGPT2 {
		m.Be.LayerNorm(out, mean, rstd, x, w, b, c.NormEps)
	} else {
		m.Be.RMSNorm(out, rstd, x, w, c.NormEps)
	}
}

// attnNorm computes the attention norm L.Norm1 of the block input x, with
// its statistics.
func (m *Model) attnNorm(blk *Block, L *LayerActs, x *compute.Tensor) {
	m.norm(L.Norm1, L.Mean1, L.Rstd1, x, blk.Norm1W, blk.Norm1B)
}

// mlpNorm computes the MLP norm L.Norm2 of x2, the residual after
// attention, with its statistics.
func (m *Model) mlpNorm(blk *Block, L *LayerActs, x2 *compute.Tensor) {
	m.norm(L.Norm2, L.Mean2, L.Rstd2, x2, blk.Norm2W, blk.Norm2B)
}

// residualAfterAttention computes x2 = x + O(L.Att), through L.AttProj.
// again is blockForward's.
func (m *Model) residualAfterAttention(blk *Block, L *LayerActs, x2, x *compute.Tensor, again bool) {
	blk.O.forward(m.Be, again, L.AttProj, L.Att)
	m.Be.Add(x2, x, L.AttProj)
}

// mlpAct computes the MLP activation L.Act from the projections.
func (m *Model) mlpAct(L *LayerActs) {
	if m.Config.Arch == ArchGPT2 {
		m.Be.GeluTanh(L.Act, L.Up)
	} else {
		m.Be.SiluMul(L.Act, L.Gate, L.Up)
	}
}

// blockForward runs block l: attention then MLP, each with a residual.
// again says that backward is recomputing the block (KeepInputs): adapters
// then replay their last forward (same dropout) rather than draw anew, and
// the block stops after the MLP's input projections, the last values its
// backward reads (it recomputes the activation where it needs it).
func (m *Model) blockForward(a *Acts, l, pos0 int, cache *KVCache, again bool) {
	c, be, blk, L := m.Config, m.Be, &m.Blocks[l], a.layer(l)
	B, T := a.B, a.T
	// The residual after attention is written where the block's output
	// goes (out = x2 + MLP(x2) is then computed in place): backward reads
	// x2, and gets it back the same way (see blockBackward).
	x, out := a.X[l], a.X[l+1]
	x2 := out

	// attention
	m.attnNorm(blk, L, x)
	if c.Arch == ArchGPT2 {
		blk.QKV.forward(be, again, L.QKV, L.Norm1)
		be.SplitCols([]*compute.Tensor{L.Q, L.K, L.V}, L.QKV)
	} else {
		blk.Q.forward(be, again, L.Q, L.Norm1)
		blk.K.forward(be, again, L.K, L.Norm1)
		blk.V.forward(be, again, L.V, L.Norm1)
		be.RoPE(L.Q, B, T, c.Heads, c.HeadDim, pos0, c.RopeTheta)
		be.RoPE(L.K, B, T, c.KVHeads, c.HeadDim, pos0, c.RopeTheta)
	}
	k, v, tk := L.K, L.V, T
	if cache != nil {
		be.Copy(cache.K[l].RowView(pos0, T), L.K)
		be.Copy(cache.V[l].RowView(pos0, T), L.V)
		tk = pos0 + T
		k, v = cache.K[l].RowView(0, tk), cache.V[l].RowView(0, tk)
	}
	if L.LSE != nil {
		be.(compute.FlashAttention).AttentionLSE(L.Att, L.LSE, L.Q, k, v, B, T, tk, c.Heads, c.KVHeads, c.HeadDim)
	} else {
		be.Attention(L.Att, L.Probs, L.Q, k, v, B, T, tk, c.Heads, c.KVHeads, c.HeadDim)
	}
	m.residualAfterAttention(blk, L, x2, x, again)

	// MLP
	m.mlpNorm(blk, L, x2)
	if c.Arch == ArchLlama {
		blk.Gate.forward(be, again, L.Gate, L.Norm2)
	}
	blk.Up.forward(be, again, L.Up, L.Norm2)
	if again {
		return
	}
	m.mlpAct(L)
	blk.Down.forward(be, again, L.MLPOut, L.Act)
	be.Add(out, x2, L.MLPOut)
}

// Logits computes the LM head over rows of h (typically a.Final or some of
// its rows): out[N, Vocab] = h·Headᵀ.
func (m *Model) Logits(out, h *compute.Tensor) {
	m.Be.Linear(out, h, m.Head, nil)
}
