package app

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/model/gguf"
	"github.com/fynetune/fynetune/model/tokenizer"
)

// GGUF token types (llama.cpp's llama_token_type).
const (
	tokNormal      int32 = 1
	tokUnknown     int32 = 2
	tokControl     int32 = 3
	tokUserDefined int32 = 4
	tokUnused      int32 = 5
	tokByte        int32 = 6
)

// ggufEntry is one tensor of a GGUF model export.
type ggufEntry struct {
	name      string // llama.cpp name
	key       string // checkpoint key it comes from
	shape     []int  // as written, PyTorch order
	typ       gguf.Type
	transpose bool // a Conv1D weight stored [in, out], written [out, in]
	heads     int  // > 0: rows permuted for GGML's RoPE, per this many heads
}

// ggufPlan records a GGUF export, for verification.
type ggufPlan struct {
	file    string
	arch    string
	kvs     []gguf.KV
	entries []ggufEntry
}

// ggufArch returns the llama.cpp architecture of the model.
func ggufArch(m *model.Model) (string, error) {
	arch := gguf.ArchFor(m.Config.ModelType)
	if arch == "" {
		return "", fmt.Errorf("model_type %s has no GGUF mapping here (llama, mistral, qwen2, gpt2)", m.Config.ModelType)
	}
	return arch, nil
}

// writeGGUF writes the merged model as a GGUF file and a Modelfile.
func (x *exporter) writeGGUF() error {
	arch, err := ggufArch(x.m)
	if err != nil {
		return err
	}
	qt, _ := gguf.ParseType(x.opt.Quant)
	entries, err := x.ggufEntries(arch, qt)
	if err != nil {
		return err
	}
	kvs := ggufModelKVs(x.m, arch, qt)
	tk, notes := ggufTokenizerKVs(x.m)
	for _, n := range notes {
		x.note("%s", n)
	}
	kvs = append(kvs, tk...)
	used := map[string]bool{}
	tensors := make([]gguf.Tensor, len(entries))
	for i, e := range entries {
		used[strings.ToLower(e.typ.String())] = true
		tensors[i] = gguf.Tensor{Name: e.name, Type: e.typ, Shape: e.shape, Encode: func() ([]byte, error) {
			if err := x.ctx.Err(); err != nil {
				return nil, err
			}
			v, err := x.ggufValues(arch, e)
			if err != nil {
				return nil, err
			}
			rows, cols := matrixDims(e.shape)
			return gguf.Encode(e.typ, v, rows, cols)
		}}
	}
	x.rep.DType = dtypeNames(used)
	x.tol = tolFor(worst(used))
	file := "model-" + x.opt.Quant + ".gguf"
	x.plan = &ggufPlan{file: file, arch: arch, kvs: kvs, entries: entries}
	x.logf("writing %s (%d tensors)", file, len(tensors))
	if err := x.st.write(file, func(w io.Writer) error { return gguf.Write(w, kvs, tensors) }); err != nil {
		return err
	}
	if x.set == nil {
		x.note("no adapter: the base model was converted as it is")
	}
	return x.writeModelfile("./"+file, "")
}

// matrixDims splits a shape into rows (all but the last dimension) and
// columns (the last).
func matrixDims(shape []int) (rows, cols int) {
	rows, cols = 1, shape[len(shape)-1]
	for _, d := range shape[:len(shape)-1] {
		rows *= d
	}
	return rows, cols
}

// ggufEntries plans the tensors of a GGUF model export: llama.cpp names,
// shapes and types. 1-D tensors are F32; quantized types fall back to F16
// for rows whose length is not a multiple of 32.
func (x *exporter) ggufEntries(arch string, qt gguf.Type) ([]ggufEntry, error) {
	c := x.m.Config
	ck := x.mg.ck
	conv := map[string]bool{}
	for _, l := range x.m.Linears() {
		if l.W.Transposed {
			conv[l.W.Name] = true
		}
	}
	var es []ggufEntry
	var fallback, skipped []string
	hasOutput := false
	for _, key := range ck.Names() {
		if isBuffer(key) {
			continue
		}
		info, _ := ck.Info(key)
		name, ok := gguf.TensorName(arch, key)
		if !ok {
			skipped = append(skipped, key)
			continue
		}
		if name == "output.weight" && c.TiedHead {
			continue // the head is the token embedding
		}
		if !info.DType.IsFloat() {
			return nil, fmt.Errorf("%s: tensor %q is %s, not a float tensor", x.m.Dir, key, info.DType)
		}
		e := ggufEntry{name: name, key: key, shape: append([]int(nil), info.Shape...)}
		if conv[key] && len(e.shape) == 2 {
			e.transpose = true
			e.shape = []int{info.Shape[1], info.Shape[0]}
		}
		if h, ok := gguf.NeedsRoPEPermute(arch, name, c.Heads, c.KVHeads); ok {
			e.heads = h
		}
		e.typ = gguf.F32
		if len(e.shape) >= 2 {
			e.typ = qt
			if qt.BlockSize() > 1 && e.shape[len(e.shape)-1]%qt.BlockSize() != 0 {
				e.typ = gguf.F16
				fallback = append(fallback, name)
			}
		}
		hasOutput = hasOutput || name == "output.weight"
		es = append(es, e)
	}
	if arch == gguf.ArchGPT2 && !hasOutput {
		// convert_hf_to_gguf.py writes GPT-2's tied head as its own tensor.
		for _, e := range es {
			if e.name == "token_embd.weight" {
				e.name = "output.weight"
				es = append(es, e)
				break
			}
		}
	}
	if len(fallback) > 0 {
		x.note("%d tensors have rows whose length is not a multiple of 32 and were written as F16 instead of %s: %s", len(fallback), qt, strings.Join(fallback, ", "))
	}
	if len(skipped) > 0 {
		x.note("tensors without a llama.cpp counterpart were left out: %s", strings.Join(skipped, ", "))
	}
	sort.SliceStable(es, func(i, j int) bool { return ggufOrder(es[i].name) < ggufOrder(es[j].name) })
	return es, nil
}

var blkRE = regexp.MustCompile(`^blk\.(\d+)\.`)

// ggufOrder sorts tensors as llama.cpp's converter writes them: embeddings,
// blocks in order, then the final norm and head.
func ggufOrder(name string) int {
	if m := blkRE.FindStringSubmatch(name); m != nil {
		n, _ := strconv.Atoi(m[1])
		return 10 + n
	}
	if strings.HasPrefix(name, "token_embd") || strings.HasPrefix(name, "position_embd") {
		return 0
	}
	return math.MaxInt32
}

// ggufValues returns the f32 values a GGUF tensor holds before encoding:
// the merged weight, transposed from Conv1D layout and RoPE-permuted as
// llama.cpp expects.
func (x *exporter) ggufValues(arch string, e ggufEntry) ([]float32, error) {
	v, err := x.mg.f32(e.key)
	if err != nil {
		return nil, err
	}
	if e.transpose {
		v = transpose(v, e.shape[1], e.shape[0])
	}
	if e.heads > 0 {
		_, cols := matrixDims(e.shape)
		if len(e.shape) == 1 {
			cols = 1
		}
		if v, err = gguf.PermuteRoPE(v, e.heads, cols); err != nil {
			return nil, fmt.Errorf("tensor %s: %v", e.name, err)
		}
	}
	return v, nil
}

// transpose returns the transpose of a row-major [rows, cols] matrix.
func transpose(v []float32, rows, cols int) []float32 {
	out := make([]float32, len(v))
	for r := range rows {
		for c := range cols {
			out[c*rows+r] = v[r*cols+c]
		}
	}
	return out
}

// ggufModelKVs is the general.* and architecture metadata of a model.
func ggufModelKVs(m *model.Model, arch string, qt gguf.Type) []gguf.KV {
	c := m.Config
	kv := []gguf.KV{
		{Key: "general.architecture", Value: arch},
		{Key: "general.type", Value: "model"},
		{Key: "general.name", Value: modelName(m)},
		{Key: "general.file_type", Value: gguf.FileTypeOf(qt)},
	}
	if qt == gguf.Q8_0 || qt == gguf.Q4_0 {
		kv = append(kv, gguf.KV{Key: "general.quantization_version", Value: uint32(2)})
	}
	p := arch + "."
	kv = append(kv,
		gguf.KV{Key: p + "vocab_size", Value: uint32(c.Vocab)},
		gguf.KV{Key: p + "context_length", Value: uint32(c.MaxPos)},
		gguf.KV{Key: p + "embedding_length", Value: uint32(c.Dim)},
		gguf.KV{Key: p + "block_count", Value: uint32(c.Layers)},
		gguf.KV{Key: p + "feed_forward_length", Value: uint32(c.FFN)},
		gguf.KV{Key: p + "attention.head_count", Value: uint32(c.Heads)},
	)
	if arch == gguf.ArchGPT2 {
		return append(kv, gguf.KV{Key: p + "attention.layer_norm_epsilon", Value: c.NormEps})
	}
	return append(kv,
		gguf.KV{Key: p + "attention.head_count_kv", Value: uint32(c.KVHeads)},
		gguf.KV{Key: p + "attention.layer_norm_rms_epsilon", Value: c.NormEps},
		gguf.KV{Key: p + "attention.key_length", Value: uint32(c.HeadDim)},
		gguf.KV{Key: p + "attention.value_length", Value: uint32(c.HeadDim)},
		gguf.KV{Key: p + "rope.dimension_count", Value: uint32(c.HeadDim)},
		gguf.KV{Key: p + "rope.freq_base", Value: c.RopeTheta},
	)
}

var byteTokenRE = regexp.MustCompile(`^<0x[0-9A-F]{2}>$`)

// ggufTokenizerKVs is the tokenizer.* metadata: the vocabulary padded to
// the embedding's rows, token types, scores, merges (byte-level BPE),
// special ids, add_bos/add_eos and the chat template.
func ggufTokenizerKVs(m *model.Model) ([]gguf.KV, []string) {
	tok := m.Tok
	var notes []string
	tokens := tok.Vocab()
	for i := len(tokens); i < m.Config.Vocab; i++ {
		tokens = append(tokens, fmt.Sprintf("[PAD%d]", i))
	}
	added := map[int]tokenizer.AddedToken{}
	for _, a := range tok.AddedTokens() {
		added[a.ID] = a
	}
	spm := tok.Kind() == tokenizer.KindSentencePiece
	rank := map[string]int{}
	merges := tok.Merges()
	for r, mg := range merges {
		if _, ok := rank[mg[0]+mg[1]]; !ok {
			rank[mg[0]+mg[1]] = r
		}
	}
	types := make([]int32, len(tokens))
	scores := make([]float32, len(tokens))
	for i, s := range tokens {
		a, isAdded := added[i]
		switch {
		case i >= tok.VocabSize() || tok.TokenString(i) == "":
			types[i] = tokUnused
		case i == tok.UNK() && i != tok.BOS() && i != tok.EOS(): // GPT-2's <|endoftext|> is all three: control
			types[i] = tokUnknown
		case isAdded && a.Special:
			types[i] = tokControl
		case isAdded:
			types[i] = tokUserDefined
		case spm && byteTokenRE.MatchString(s):
			types[i] = tokByte
		default:
			types[i] = tokNormal
		}
		// llama.cpp's SentencePiece tokenizer merges the pair whose result
		// scores highest: -rank reproduces the BPE merge order.
		if r, ok := rank[s]; ok && spm && types[i] == tokNormal {
			scores[i] = -float32(r)
		}
	}
	kv := []gguf.KV{}
	if spm {
		kv = append(kv, gguf.KV{Key: "tokenizer.ggml.model", Value: "llama"})
	} else {
		pre := "default"
		switch m.Config.ModelType {
		case "gpt2":
			pre = "gpt-2"
		case "qwen2":
			pre = "qwen2"
		case "llama":
			pre = "llama-bpe"
		default:
			notes = append(notes, fmt.Sprintf("tokenizer.ggml.pre is %q: llama.cpp has no pre-tokenizer name for this %s byte-level tokenizer", pre, m.Config.ModelType))
		}
		kv = append(kv, gguf.KV{Key: "tokenizer.ggml.model", Value: "gpt2"}, gguf.KV{Key: "tokenizer.ggml.pre", Value: pre})
	}
	kv = append(kv,
		gguf.KV{Key: "tokenizer.ggml.tokens", Value: tokens},
		gguf.KV{Key: "tokenizer.ggml.scores", Value: scores},
		gguf.KV{Key: "tokenizer.ggml.token_type", Value: types},
	)
	if !spm {
		ms := make([]string, len(merges))
		for i, mg := range merges {
			ms[i] = mg[0] + " " + mg[1]
		}
		kv = append(kv, gguf.KV{Key: "tokenizer.ggml.merges", Value: ms})
	}
	bos, eos := tok.BOS(), tok.EOS()
	if bos < 0 {
		bos = m.Config.BOS
	}
	if eos < 0 && len(m.Config.EOS) > 0 {
		eos = m.Config.EOS[0]
	}
	for _, id := range []struct {
		key string
		v   int
	}{{"bos_token_id", bos}, {"eos_token_id", eos}, {"unknown_token_id", tok.UNK()}, {"padding_token_id", tok.PAD()}} {
		if id.v >= 0 {
			kv = append(kv, gguf.KV{Key: "tokenizer.ggml." + id.key, Value: uint32(id.v)})
		}
	}
	addBOS, addEOS := addsSpecial(tok)
	kv = append(kv, gguf.KV{Key: "tokenizer.ggml.add_bos_token", Value: addBOS},
		gguf.KV{Key: "tokenizer.ggml.add_eos_token", Value: addEOS})
	if t := tok.ChatTemplate(); t != "" {
		kv = append(kv, gguf.KV{Key: "tokenizer.chat_template", Value: t})
	}
	return kv, notes
}

// addsSpecial reports whether the tokenizer puts BOS before and EOS after
// a single sequence.
func addsSpecial(tok *tokenizer.Tokenizer) (bos, eos bool) {
	const probe = "a"
	plain, with := tok.Encode(probe), tok.EncodeWithSpecial(probe)
	if len(with) > len(plain) {
		bos = tok.BOS() >= 0 && with[0] == tok.BOS() && (len(plain) == 0 || plain[0] != tok.BOS())
		eos = tok.EOS() >= 0 && with[len(with)-1] == tok.EOS() && (len(plain) == 0 || plain[len(plain)-1] != tok.EOS())
	}
	return bos, eos
}

// adapterPlan records a GGUF adapter export, for verification.
type adapterPlan struct {
	file  string
	arch  string
	kvs   []gguf.KV
	alpha float32
	mods  []adapterEntry
}

type adapterEntry struct {
	name string // llama.cpp weight name, e.g. blk.0.attn_q.weight
	lin  *model.Linear
	r    int
	a, b []float32 // values meant for lora_a [r, in] and lora_b [out, r]
}

// writeGGUFAdapter writes the adapter as a llama.cpp LoRA adapter.
func (x *exporter) writeGGUFAdapter() error {
	arch, err := ggufArch(x.m)
	if err != nil {
		return err
	}
	qt, _ := gguf.ParseType(x.opt.Quant)
	c := x.m.Config
	// llama.cpp scales an adapter by adapter.lora.alpha / rank. One alpha
	// serves every module; a module whose scale differs (rsLoRA at another
	// rank, per-module ranks) has the difference folded into its B.
	first := x.set.Mods[0]
	alpha := float32(float64(first.Scale) * float64(first.A.Shape[0]))
	byPath := map[string]*model.Linear{}
	for _, l := range x.m.Linears() {
		byPath[l.Path] = l
	}
	plan := &adapterPlan{arch: arch, alpha: alpha}
	var tensors []gguf.Tensor
	folded := 0
	for _, l := range x.set.Mods {
		lin := byPath[l.Path]
		if lin == nil {
			return fmt.Errorf("adapter module %s is not a linear module of the model", l.Path)
		}
		name, ok := gguf.TensorName(arch, lin.W.Name)
		if !ok {
			return fmt.Errorf("adapter module %s has no llama.cpp tensor name", l.Path)
		}
		r := l.A.Shape[0]
		a, b := download(x.m.Be, l.A), download(x.m.Be, l.B)
		if f := float64(l.Scale) * float64(r) / float64(alpha); math.Abs(f-1) > 1e-6 {
			for i := range b {
				b[i] = float32(float64(b[i]) * f)
			}
			folded++
		}
		if h, ok := gguf.NeedsRoPEPermute(arch, name+".lora_b", c.Heads, c.KVHeads); ok {
			if b, err = gguf.PermuteRoPE(b, h, r); err != nil {
				return fmt.Errorf("module %s: %v", l.Path, err)
			}
		}
		ea, err := gguf.Encode(qt, a, r, lin.W.In)
		if err != nil {
			return err
		}
		eb, err := gguf.Encode(qt, b, lin.W.Out, r)
		if err != nil {
			return err
		}
		tensors = append(tensors,
			gguf.Tensor{Name: name + ".lora_a", Type: qt, Shape: []int{r, lin.W.In}, Data: ea},
			gguf.Tensor{Name: name + ".lora_b", Type: qt, Shape: []int{lin.W.Out, r}, Data: eb})
		plan.mods = append(plan.mods, adapterEntry{name: name, lin: lin, r: r, a: a, b: b})
	}
	if folded > 0 {
		x.note("%d modules scale differently from alpha/r = %g/%d; their scale was folded into lora_b", folded, alpha, first.A.Shape[0])
	}
	if x.set.Config.RSLora {
		x.note("rsLoRA's alpha/√r scale is written as adapter.lora.alpha = %g (llama.cpp divides it by r)", alpha)
	}
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: arch},
		{Key: "general.type", Value: "adapter"},
		{Key: "general.name", Value: modelName(x.m) + "-lora"},
		{Key: "adapter.type", Value: "lora"},
		{Key: "adapter.lora.alpha", Value: alpha},
	}
	plan.kvs = kvs
	plan.file = "adapter-" + x.opt.Quant + ".gguf"
	x.plan = plan
	x.rep.DType = x.opt.Quant
	x.tol = tolFor(x.opt.Quant)
	if err := x.st.write(plan.file, func(w io.Writer) error { return gguf.Write(w, kvs, tensors) }); err != nil {
		return err
	}
	base, err := filepath.Abs(x.m.Dir)
	if err != nil {
		base = x.m.Dir
	}
	return x.writeModelfile(base, "./"+plan.file)
}

// modelName is the name of the model's folder.
func modelName(m *model.Model) string {
	if abs, err := filepath.Abs(m.Dir); err == nil {
		return filepath.Base(abs)
	}
	return filepath.Base(m.Dir)
}
