package model

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/quant"
	"github.com/fynetune/fynetune/model/safetensors"
	"github.com/fynetune/fynetune/model/tokenizer"
)

// Model is a loaded checkpoint: its config, tokenizer and the frozen weights
// held by a compute backend. The forward pass lives in forward.go, one
// function per architecture family.
type Model struct {
	Dir    string
	Config *Config
	Tok    *tokenizer.Tokenizer
	Be     compute.Backend

	Embed    *compute.Weight // [Vocab, Dim] token embeddings
	PosEmbed *compute.Weight // [MaxPos, Dim] learned positions (GPT-2)
	Head     *compute.Weight // [Vocab, Dim]; the embedding itself when tied
	NormW    *compute.Tensor // final norm weight
	NormB    *compute.Tensor // final norm bias (GPT-2)
	Blocks   []Block
	Bits     int // width of the frozen matrices: 16, 8 or 4

	// Gradients of the non-linear parameters, set only in full training.
	EmbedGrad, PosEmbedGrad, HeadGrad *compute.Tensor
	NormWGrad, NormBGrad              *compute.Tensor

	normName string // checkpoint key prefix of the final norm

	ckpt *safetensors.Checkpoint
}

// Block holds one transformer layer's parameters. GPT-2 uses QKV (the fused
// c_attn), O (attn.c_proj), Up (mlp.c_fc) and Down (mlp.c_proj); the Llama
// family uses Q, K, V, O, Gate, Up and Down.
type Block struct {
	Norm1W, Norm1B *compute.Tensor
	Norm2W, Norm2B *compute.Tensor
	QKV            *Linear
	Q, K, V, O     *Linear
	Gate, Up, Down *Linear

	// Norm gradients, set only in full training.
	Norm1WGrad, Norm1BGrad, Norm2WGrad, Norm2BGrad *compute.Tensor

	norm1Name, norm2Name string // checkpoint key prefixes of the norms
}

// Linear is one linear module of the model, named by its Hugging Face module
// path (e.g. "model.layers.0.self_attn.q_proj"), which is also the name PEFT
// gives its adapter.
type Linear struct {
	Path    string
	W       *compute.Weight
	Bias    *compute.Tensor // nil when the module has none
	Adapter Adapter         // LoRA or another adapter; nil when not adapted

	// WGrad (laid out like W) and BiasGrad exist only in full training:
	// in LoRA training the frozen weight never gets a gradient.
	WGrad, BiasGrad *compute.Tensor
}

// Adapter adds a trainable correction to a frozen Linear (LoRA). It is
// implemented in package train.
type Adapter interface {
	// Forward adds the adapter's output for input x[N, In] to out[N, Out].
	Forward(be compute.Backend, out, x *compute.Tensor)
	// Backward accumulates the adapter's parameter gradients from dy[N, Out]
	// and x[N, In], and adds its contribution to dx[N, In].
	Backward(be compute.Backend, dx, dy, x *compute.Tensor)
}

// Replayer is an Adapter that can add its last Forward's output again
// without recomputing it from the input: with dropout, a second Forward
// would draw a new mask, and gradient checkpointing (KeepInputs) must see
// the same forward pass twice.
type Replayer interface {
	Replay(be compute.Backend, out *compute.Tensor)
}

// Forward runs the module: out = x·Wᵀ + b (+ adapter).
func (l *Linear) Forward(be compute.Backend, out, x *compute.Tensor) {
	l.forward(be, false, out, x)
}

// forward is Forward; with again set (a block recomputed for its backward)
// an adapter that implements Replayer replays its last output.
func (l *Linear) forward(be compute.Backend, again bool, out, x *compute.Tensor) {
	be.Linear(out, x, l.W, l.Bias)
	if l.Adapter == nil {
		return
	}
	if r, ok := l.Adapter.(Replayer); ok && again {
		r.Replay(be, out)
		return
	}
	l.Adapter.Forward(be, out, x)
}

// trains says whether backward needs the module's input: it has an adapter
// or a weight gradient.
func (l *Linear) trains() bool { return l.Adapter != nil || l.WGrad != nil }

// Linears lists every linear module in layer order, the head excluded.
func (m *Model) Linears() []*Linear {
	var out []*Linear
	for i := range m.Blocks {
		b := &m.Blocks[i]
		for _, l := range []*Linear{b.QKV, b.Q, b.K, b.V, b.O, b.Gate, b.Up, b.Down} {
			if l != nil {
				out = append(out, l)
			}
		}
	}
	return out
}

// Close releases the memory-mapped checkpoint. The model must not be used after.
func (m *Model) Close() error {
	if m.ckpt == nil {
		return nil
	}
	err := m.ckpt.Close()
	m.ckpt = nil
	return err
}

// SizeOnDisk is the byte size of the checkpoint's weight files.
func (m *Model) SizeOnDisk() int64 { return m.ckpt.SizeBytes() }

// Checkpoint exposes the opened weight files (for inspection and export).
func (m *Model) Checkpoint() *safetensors.Checkpoint { return m.ckpt }

// LoadOptions choose how the frozen weights are held.
type LoadOptions struct {
	// Bits is the width of the frozen matrices: 16 keeps the checkpoint's
	// floats (f32 mapped from the file; f16/bf16 kept compact and widened
	// inside the kernels), 8 quantizes them to int8 blockwise absmax, 4 to
	// NF4 with double quantization. Norms and biases stay f32. 0 means 16.
	Bits int
}

// Load opens a Hugging Face model folder: config.json, the safetensors
// weights (memory-mapped) and tokenizer.json. The weights are placed on be
// as the checkpoint stores them.
func Load(dir string, be compute.Backend) (*Model, error) {
	return LoadWith(dir, be, LoadOptions{})
}

// LoadWith is Load with options. At 8 or 4 bits each matrix is quantized as
// it is read from the mapped file and its full-precision pages are released
// at once, so loading never holds the whole f32 model in memory.
func LoadWith(dir string, be compute.Backend, opt LoadOptions) (*Model, error) {
	switch opt.Bits {
	case 0:
		opt.Bits = 16
	case 4, 8, 16:
	default:
		return nil, fmt.Errorf("bits %d: want 16, 8 or 4", opt.Bits)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("model folder %s: %w", dir, err)
	}
	if !st.IsDir() {
		if strings.HasSuffix(strings.ToLower(dir), ".gguf") {
			return nil, fmt.Errorf("%s: Fynetune trains Hugging Face model folders (config.json, model.safetensors, tokenizer.json), not GGUF files; GGUF is what it exports (fynetune export --format gguf), and fynetune inspect describes a GGUF file", dir)
		}
		return nil, fmt.Errorf("%s is a file; open the Hugging Face model folder that holds config.json", dir)
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		if g := ggufIn(dir); g != "" {
			return nil, fmt.Errorf("%s holds a GGUF file (%s) but no config.json: Fynetune trains Hugging Face model folders (config.json, model.safetensors, tokenizer.json), not GGUF files; fynetune inspect describes a GGUF file", dir, filepath.Base(g))
		}
		return nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() > cfg.Vocab {
		return nil, fmt.Errorf("%s: tokenizer has %d tokens but config.json vocab_size is %d", dir, tok.VocabSize(), cfg.Vocab)
	}
	ck, err := safetensors.OpenModel(dir)
	if err != nil {
		return nil, err
	}
	m := &Model{Dir: dir, Config: cfg, Tok: tok, Be: be, ckpt: ck, Bits: opt.Bits}
	if err := m.bind(m.checkpointSource); err != nil {
		ck.Close()
		return nil, err
	}
	return m, nil
}

// ggufIn returns the first .gguf file in dir, or "".
func ggufIn(dir string) string {
	g, _ := filepath.Glob(filepath.Join(dir, "*.gguf"))
	if len(g) > 0 {
		return g[0]
	}
	return ""
}

// binder resolves tensors by their canonical names, checking presence and
// shape, and places them on the backend. fetch reads a tensor of the wanted
// shape (from the checkpoint, or made up for a random model) and has says
// whether a tensor exists.
type binder struct {
	m      *Model
	prefix func(string) string // canonical name -> name in this checkpoint
	fetch  func(key string, want []int) ([]float32, error)
	has    func(key string) bool
	// raw returns a 16-bit tensor's bytes as stored (f16/bf16), to keep it
	// compact; ok is false for other dtypes. Nil when not available.
	raw func(key string) (compute.DType, []byte, bool)
	// release drops a tensor's mapped pages once it has been converted.
	release func(key string)
	// owned says whether values fetch returned for key are a buffer of
	// their own (not a view of the mapped file), which the backend may
	// then rearrange in place (compute.Weight.Own).
	owned func(key string, v []float32) bool
	// fill, when set, makes rows [r0, r1) of a tensor [rows, cols] that is
	// quantized at load: the full-precision matrix then never exists whole
	// (a random model's 50257-row embedding is 154 MB at f32).
	fill func(key string, r0, r1, cols int, buf []float32)
}

// checkpointSource makes a binder read m's checkpoint.
func (m *Model) checkpointSource(b *binder) {
	b.has = func(key string) bool { _, ok := m.ckpt.Info(key); return ok }
	b.raw = func(key string) (compute.DType, []byte, bool) {
		info, ok := m.ckpt.Info(key)
		if !ok {
			return 0, nil, false
		}
		var dt compute.DType
		switch info.DType {
		case safetensors.F16:
			dt = compute.F16
		case safetensors.BF16:
			dt = compute.BF16
		default:
			return 0, nil, false
		}
		raw, err := m.ckpt.Bytes(key)
		return dt, raw, err == nil
	}
	b.release = m.ckpt.Release
	b.owned = func(key string, v []float32) bool { return !m.ckpt.Maps(key, v) }
	b.fetch = func(key string, want []int) ([]float32, error) {
		info, ok := m.ckpt.Info(key)
		if !ok {
			return nil, fmt.Errorf("%s: tensor %q is missing (model_type %s, %d layers)", m.Dir, key, m.Config.ModelType, m.Config.Layers)
		}
		if !equalShape(info.Shape, want) {
			return nil, fmt.Errorf("%s: %s: tensor %q: shape %v, want %v", m.Dir, m.ckpt.FileOf(key), key, info.Shape, want)
		}
		v, err := m.ckpt.Float32(key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Dir, err)
		}
		return v, nil
	}
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// vector loads a 1-D tensor (norm weight, bias) of length n onto the backend.
func (b *binder) vector(name string, n int) (*compute.Tensor, error) {
	v, err := b.fetch(b.prefix(name), []int{n})
	if err != nil {
		return nil, err
	}
	t := b.m.Be.NewTensor(n)
	b.m.Be.Upload(t, v)
	return t, nil
}

// weight loads a matrix used as y = x·Wᵀ with logical shape [out, in].
// Conv1D weights (GPT-2) are stored [in, out] and stay in that layout.
func (b *binder) weight(name string, out, in int, conv1D bool) (*compute.Weight, error) {
	key := b.prefix(name)
	want := []int{out, in}
	if conv1D {
		want = []int{in, out}
	}
	bits := b.m.Bits
	if bits == 16 && !conv1D && b.raw != nil {
		if dt, raw, ok := b.raw(key); ok {
			// Shape is checked by fetch below only for f32; check it here.
			if info, _ := b.m.ckpt.Info(key); !equalShape(info.Shape, want) {
				return nil, fmt.Errorf("%s: %s: tensor %q: shape %v, want %v", b.m.Dir, b.m.ckpt.FileOf(key), key, info.Shape, want)
			}
			w := &compute.Weight{Name: key, Out: out, In: in, DType: dt, Raw: raw}
			b.m.Be.PrepareWeight(w)
			return w, nil
		}
	}
	if bits < 16 && !conv1D && b.fill != nil {
		w := &compute.Weight{Name: key, Out: out, In: in, DType: quantType(bits, key)}
		const chunk = 1 << 20 // values generated at a time
		w.Raw = quant.QuantizeFrom(w.DType, out, in, max(1, chunk/in), func(r0, r1 int, buf []float32) { b.fill(key, r0, r1, in, buf) })
		b.m.Be.PrepareWeight(w)
		return w, nil
	}
	v, err := b.fetch(key, want)
	if err != nil {
		return nil, err
	}
	w := &compute.Weight{Name: key, Out: out, In: in, Transposed: conv1D, DType: compute.F32, F32: v}
	w.Own = b.owned != nil && b.owned(key, v)
	if bits < 16 {
		var opts []quant.Option
		if conv1D { // quantized rows run along In: stored [Out, In]
			opts = append(opts, quant.Transposed())
			w.Transposed = false
		}
		w.DType = quantType(bits, key)
		w.Raw, w.F32 = quant.Quantize(w.DType, v, out, in, opts...), nil
		if b.release != nil {
			b.release(key)
		}
	}
	b.m.Be.PrepareWeight(w)
	if bits == 16 && b.release != nil {
		// The backend holds its own form of the weight now (packed panels,
		// a GPU buffer; or F32 is a converted copy): the file's pages can
		// go, and come back from the page cache if they are read again.
		b.release(key)
	}
	return w, nil
}

// quantType is the format of the matrix key at a bit-width below 16.
func quantType(bits int, key string) compute.DType {
	if bits == 8 || isEmbedding(key) {
		// Embedding tables (and a tied or separate LM head) are read row by
		// row and their errors reach every logit: at 4 bits they are held at
		// int8, as llama.cpp keeps token_embd above the rest.
		return compute.Q8
	}
	return compute.NF4
}

// isEmbedding reports the embedding and LM-head tables by checkpoint key.
func isEmbedding(key string) bool {
	for _, s := range []string{"embed_tokens.weight", "wte.weight", "wpe.weight", "lm_head.weight"} {
		if strings.HasSuffix(key, s) {
			return true
		}
	}
	return false
}

func (b *binder) linear(path string, out, in int, conv1D, bias bool) (*Linear, error) {
	w, err := b.weight(path+".weight", out, in, conv1D)
	if err != nil {
		return nil, err
	}
	l := &Linear{Path: path, W: w}
	if bias {
		if l.Bias, err = b.vector(path+".bias", out); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// bind maps the checkpoint's tensors onto the model: the one place where
// Hugging Face weight names are spelled out, per architecture.
func (m *Model) bind(src func(*binder)) error {
	c := m.Config
	if c.Arch == ArchGPT2 {
		return m.bindGPT2(src)
	}
	b := &binder{m: m, prefix: func(s string) string { return s }}
	src(b)
	var err error
	if m.Embed, err = b.weight("model.embed_tokens.weight", c.Vocab, c.Dim, false); err != nil {
		return err
	}
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	m.Blocks = make([]Block, c.Layers)
	for i := range m.Blocks {
		p := fmt.Sprintf("model.layers.%d.", i)
		blk := &m.Blocks[i]
		blk.norm1Name, blk.norm2Name = p+"input_layernorm", p+"post_attention_layernorm"
		steps := []func() error{
			func() (e error) { blk.Norm1W, e = b.vector(p+"input_layernorm.weight", c.Dim); return },
			func() (e error) { blk.Q, e = b.linear(p+"self_attn.q_proj", q, c.Dim, false, c.QKVBias); return },
			func() (e error) { blk.K, e = b.linear(p+"self_attn.k_proj", kv, c.Dim, false, c.QKVBias); return },
			func() (e error) { blk.V, e = b.linear(p+"self_attn.v_proj", kv, c.Dim, false, c.QKVBias); return },
			func() (e error) { blk.O, e = b.linear(p+"self_attn.o_proj", c.Dim, q, false, c.OBias); return },
			func() (e error) {
				blk.Norm2W, e = b.vector(p+"post_attention_layernorm.weight", c.Dim)
				return
			},
			func() (e error) { blk.Gate, e = b.linear(p+"mlp.gate_proj", c.FFN, c.Dim, false, c.MLPBias); return },
			func() (e error) { blk.Up, e = b.linear(p+"mlp.up_proj", c.FFN, c.Dim, false, c.MLPBias); return },
			func() (e error) { blk.Down, e = b.linear(p+"mlp.down_proj", c.Dim, c.FFN, false, c.MLPBias); return },
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}
	}
	m.normName = "model.norm"
	if m.NormW, err = b.vector("model.norm.weight", c.Dim); err != nil {
		return err
	}
	return m.bindHead(b)
}

func (m *Model) bindHead(b *binder) error {
	if !m.Config.TiedHead {
		if b.has("lm_head.weight") {
			var err error
			m.Head, err = b.weight("lm_head.weight", m.Config.Vocab, m.Config.Dim, false)
			return err
		}
		if m.Config.Arch != ArchGPT2 {
			return fmt.Errorf("%s: tensor %q is missing and tie_word_embeddings is false", m.Dir, "lm_head.weight")
		}
	}
	m.Head = m.Embed
	return nil
}

func (m *Model) bindGPT2(src func(*binder)) error {
	c := m.Config
	b := &binder{m: m}
	src(b)
	// Checkpoints are saved with or without the "transformer." prefix.
	pre := ""
	if b.has("transformer.wte.weight") {
		pre = "transformer."
	}
	b.prefix = func(s string) string {
		if strings.HasPrefix(s, "lm_head.") {
			return s
		}
		return pre + s
	}
	var err error
	if m.Embed, err = b.weight("wte.weight", c.Vocab, c.Dim, false); err != nil {
		return err
	}
	if m.PosEmbed, err = b.weight("wpe.weight", c.MaxPos, c.Dim, false); err != nil {
		return err
	}
	D := c.Dim
	m.Blocks = make([]Block, c.Layers)
	for i := range m.Blocks {
		p := fmt.Sprintf("h.%d.", i)
		blk := &m.Blocks[i]
		blk.norm1Name, blk.norm2Name = pre+p+"ln_1", pre+p+"ln_2"
		steps := []func() error{
			func() (e error) { blk.Norm1W, e = b.vector(p+"ln_1.weight", D); return },
			func() (e error) { blk.Norm1B, e = b.vector(p+"ln_1.bias", D); return },
			func() (e error) { blk.QKV, e = b.linear(p+"attn.c_attn", 3*D, D, true, true); return },
			func() (e error) { blk.O, e = b.linear(p+"attn.c_proj", D, D, true, true); return },
			func() (e error) { blk.Norm2W, e = b.vector(p+"ln_2.weight", D); return },
			func() (e error) { blk.Norm2B, e = b.vector(p+"ln_2.bias", D); return },
			func() (e error) { blk.Up, e = b.linear(p+"mlp.c_fc", c.FFN, D, true, true); return },
			func() (e error) { blk.Down, e = b.linear(p+"mlp.c_proj", D, c.FFN, true, true); return },
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}
		// PEFT names modules by their full path in the HF model, which always
		// carries "transformer." for GPT2LMHeadModel.
		for _, l := range []*Linear{blk.QKV, blk.O, blk.Up, blk.Down} {
			l.Path = "transformer." + strings.TrimPrefix(l.Path, pre)
		}
	}
	m.normName = pre + "ln_f"
	if m.NormW, err = b.vector("ln_f.weight", D); err != nil {
		return err
	}
	if m.NormB, err = b.vector("ln_f.bias", D); err != nil {
		return err
	}
	return m.bindHead(b)
}
