package app

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/model/gguf"
	"github.com/fynetune/fynetune/model/safetensors"
	"github.com/fynetune/fynetune/train"
)

// sampleTexts are encoded into the default verification rows.
var sampleTexts = []string{
	"Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog.",
	"The quick brown fox jumps over the lazy dog. In 1969, 3 astronauts flew to the Moon; 2 of them walked on it!",
}

// sampleRows returns the verification inputs: opt.SampleIDs, or the sample
// texts tokenized and cut (or repeated) to rows of up to 32 tokens.
func sampleRows(m *model.Model, given [][]int32) [][]int32 {
	if len(given) > 0 {
		return given
	}
	T := min(32, m.Config.MaxPos)
	var rows [][]int32
	for i, text := range sampleTexts {
		ids := m.Tok.EncodeWithSpecial(text)
		row := make([]int32, T)
		for t := range row {
			id := (i*131 + t*7919 + 3) % m.Config.Vocab // only when the text encodes to nothing
			if len(ids) > 0 {
				id = ids[t%len(ids)]
			}
			row[t] = int32(id)
		}
		rows = append(rows, row)
	}
	return rows
}

// logitsOf runs rows through mod and returns the logits [B*T, Vocab].
func logitsOf(mod *model.Model, rows [][]int32) []float32 {
	B, T := len(rows), len(rows[0])
	ids := make([]int32, 0, B*T)
	for _, r := range rows {
		ids = append(ids, r...)
	}
	a := mod.NewActs(B, T, false)
	mod.Forward(a, ids, nil)
	out := mod.Be.NewTensor(B*T, mod.Config.Vocab)
	mod.Logits(out, a.Final)
	return download(mod.Be, out)
}

// compareLogits returns max |a-b| and the mean over rows of the absolute
// difference of the rows' next-token losses. NaNs make both NaN.
func compareLogits(a, b []float32, rows [][]int32, vocab int) (maxDiff, meanLoss float64) {
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) {
			return math.NaN(), math.NaN()
		}
		maxDiff = math.Max(maxDiff, d)
	}
	T := len(rows[0])
	for r, row := range rows {
		la, lb := 0.0, 0.0
		for t := 0; t+1 < T; t++ {
			off := (r*T + t) * vocab
			la += nll(a[off:off+vocab], int(row[t+1]))
			lb += nll(b[off:off+vocab], int(row[t+1]))
		}
		meanLoss += math.Abs(la-lb) / float64(T-1)
	}
	return maxDiff, meanLoss / float64(len(rows))
}

// nll is -log softmax(logits)[target].
func nll(logits []float32, target int) float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s) - float64(logits[target])
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) {
			return math.NaN()
		}
		m = math.Max(m, d)
	}
	return m
}

// exactWeights reports whether every frozen weight of m holds the
// checkpoint's values exactly (f32, or f16/bf16 kept as stored), so that m
// itself is the reference; a base quantized to 8 or 4 bits is not.
func exactWeights(m *model.Model) bool {
	ws := []*compute.Weight{m.Embed, m.PosEmbed, m.Head}
	for _, l := range m.Linears() {
		ws = append(ws, l.W)
	}
	for _, w := range ws {
		if w != nil && w.DType != compute.F32 && w.DType != compute.F16 && w.DType != compute.BF16 {
			return false
		}
	}
	return true
}

// reference returns the model the export is compared against: the base
// as stored on disk with the adapters applied in memory. That is m itself
// unless its weights were quantized (QLoRA), in which case the base is
// loaded again from disk and given the same adapters.
func (x *exporter) reference() (*model.Model, func(), error) {
	if exactWeights(x.m) {
		return x.m, func() {}, nil
	}
	ref, err := model.Load(x.m.Dir, x.m.Be)
	if err != nil {
		return nil, nil, fmt.Errorf("reloading the base model in full precision: %w", err)
	}
	if x.set != nil {
		byPath := map[string]*model.Linear{}
		for _, l := range ref.Linears() {
			byPath[l.Path] = l
		}
		for _, l := range x.set.Mods {
			byPath[l.Path].Adapter = &train.Lora{Path: l.Path, Scale: l.Scale, A: l.A, B: l.B}
		}
	}
	return ref, func() { ref.Close() }, nil
}

// withAdapters runs fn with every adapter of mod removed, and puts them
// back afterwards.
func withAdapters(mod *model.Model, fn func() error) error {
	saved := map[*model.Linear]model.Adapter{}
	for _, l := range mod.Linears() {
		saved[l] = l.Adapter
		l.Adapter = nil
	}
	defer func() {
		for l, a := range saved {
			l.Adapter = a
		}
	}()
	return fn()
}

// verify reads the staged export back with Fynetune's own loaders and
// compares it with the reference model on the sample rows.
func (x *exporter) verify() (*Verification, error) {
	rows := sampleRows(x.m, x.opt.SampleIDs)
	for _, r := range rows {
		for _, id := range r {
			if id < 0 || int(id) >= x.m.Config.Vocab {
				return nil, fmt.Errorf("sample token id %d is outside the vocabulary (%d)", id, x.m.Config.Vocab)
			}
		}
	}
	if len(rows[0]) > x.m.Config.MaxPos {
		return nil, fmt.Errorf("sample rows of %d tokens exceed the context length %d", len(rows[0]), x.m.Config.MaxPos)
	}
	ref, done, err := x.reference()
	if err != nil {
		return nil, err
	}
	defer done()
	want := logitsOf(ref, rows)
	v := &Verification{Samples: len(rows), Tokens: len(rows) * len(rows[0])}
	for _, l := range want {
		v.MaxAbsLogit = math.Max(v.MaxAbsLogit, math.Abs(float64(l)))
	}
	v.Tolerance = x.tol
	if x.tol != TolF32 {
		// Rounding every weight moves the logits in proportion to their
		// size, so the 16-bit and Q8_0 tolerances are relative to the
		// largest logit (at least 1).
		v.Tolerance = x.tol * math.Max(1, v.MaxAbsLogit)
	}
	var got []float32
	switch x.opt.Format {
	case ExportPEFT:
		got, err = x.verifyPEFT(ref, rows, v)
	case ExportMerged:
		got, err = x.verifyMerged(rows, v)
	case ExportGGUF:
		got, err = x.verifyGGUF(rows, v)
	case ExportGGUFAdapter:
		got, err = x.verifyGGUFAdapter(ref, rows, v)
	}
	if err != nil {
		return v, err
	}
	if err := x.ctx.Err(); err != nil {
		return v, err
	}
	v.MaxAbsLogitDiff, v.MeanAbsLossDiff = compareLogits(got, want, rows, x.m.Config.Vocab)
	v.Passed = !math.IsNaN(v.MaxAbsLogitDiff) && (v.Tolerance == 0 || v.MaxAbsLogitDiff <= v.Tolerance)
	return v, nil
}

// verifyPEFT checks that the adapter file holds exactly the adapter, then
// loads it onto the reference base with train.LoadAdapter.
func (x *exporter) verifyPEFT(ref *model.Model, rows [][]int32, v *Verification) ([]float32, error) {
	v.Method = "adapter_model.safetensors read back and compared bit for bit; the folder loaded onto the base with Fynetune's PEFT loader"
	f, err := safetensors.Open(x.st.path(train.AdapterWeightsFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := train.AdapterTensors(x.set, x.m.Be)
	if n := len(f.Names()); n != len(want) {
		return nil, fmt.Errorf("%s holds %d tensors, want %d", train.AdapterWeightsFile, n, len(want))
	}
	for _, t := range want {
		b, err := f.Bytes(t.Name)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(b, t.Data) {
			return nil, fmt.Errorf("%s: tensor %q read back differs from the adapter", train.AdapterWeightsFile, t.Name)
		}
	}
	var got []float32
	err = withAdapters(ref, func() error {
		if _, err := train.LoadAdapter(x.st.dir, ref); err != nil {
			return err
		}
		got = logitsOf(ref, rows)
		return nil
	})
	return got, err
}

// verifyMerged loads the merged folder with model.Load and compares its
// adapted tensors with the merge.
func (x *exporter) verifyMerged(rows [][]int32, v *Verification) ([]float32, error) {
	v.Method = "merged folder loaded with Fynetune's model loader; adapted tensors compared with W + s·B·A"
	mm, err := model.Load(x.st.dir, x.m.Be)
	if err != nil {
		return nil, err
	}
	defer mm.Close()
	ck := mm.Checkpoint()
	plan := x.plan.(*mergedPlan)
	if n := len(ck.Names()); n != len(plan.out) {
		return nil, fmt.Errorf("the merged checkpoint holds %d tensors, want %d", n, len(plan.out))
	}
	for key, dt := range plan.out {
		info, ok := ck.Info(key)
		if !ok || info.DType != dt {
			return nil, fmt.Errorf("merged tensor %q is missing or not %s", key, dt)
		}
		if !x.mg.adapted(key) {
			continue
		}
		a, err := ck.Float32(key)
		if err != nil {
			return nil, err
		}
		b, err := x.mg.f32(key)
		if err != nil {
			return nil, err
		}
		v.MaxAbsTensorDiff = math.Max(v.MaxAbsTensorDiff, maxAbsDiff(a, b))
	}
	return logitsOf(mm, rows), nil
}

// verifyGGUF reads the GGUF file back with package gguf: metadata,
// tensor names, shapes, types and dequantized values; then rebuilds a
// Hugging Face folder from its tensors (names mapped back, RoPE
// permutation and Conv1D transposition undone, f32) and runs it.
func (x *exporter) verifyGGUF(rows [][]int32, v *Verification) ([]float32, error) {
	v.Method = "GGUF read back with Fynetune's reader (metadata, tensors dequantized and compared), then its tensors mapped back to a Hugging Face folder and loaded with Fynetune's model loader"
	plan := x.plan.(*ggufPlan)
	f, err := gguf.Open(x.st.path(plan.file))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := checkKVs(f, plan.kvs); err != nil {
		return nil, err
	}
	if len(f.Tensors) != len(plan.entries) {
		return nil, fmt.Errorf("%s holds %d tensors, want %d", plan.file, len(f.Tensors), len(plan.entries))
	}
	for _, e := range plan.entries {
		if err := x.ctx.Err(); err != nil {
			return nil, err
		}
		ti, ok := f.Tensor(e.name)
		if !ok || ti.Type != e.typ || !reflect.DeepEqual(ti.Shape(), e.shape) {
			return nil, fmt.Errorf("%s: tensor %q is missing or not %s %v", plan.file, e.name, e.typ, e.shape)
		}
		got, err := f.Float32(e.name)
		if err != nil {
			return nil, err
		}
		want, err := x.ggufValues(plan.arch, e)
		if err != nil {
			return nil, err
		}
		v.MaxAbsTensorDiff = math.Max(v.MaxAbsTensorDiff, maxAbsDiff(got, want))
	}
	// Round trip to a Hugging Face folder inside the stage, removed after.
	vdir := x.st.path(".verify")
	if err := os.Mkdir(vdir, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(vdir)
	vst := newStage(vdir, nil)
	if err := x.copyModelFiles(vst, "float32"); err != nil {
		return nil, err
	}
	c := x.m.Config
	byKey := map[string]string{}
	var items []stItem
	for _, ti := range f.Tensors {
		if ti.Name == "output.weight" && c.TiedHead {
			continue
		}
		key, ok := gguf.HFName(plan.arch, ti.Name)
		if !ok {
			return nil, fmt.Errorf("%s: tensor %q has no Hugging Face name", plan.file, ti.Name)
		}
		shape := ti.Shape()
		if plan.arch == gguf.ArchGPT2 && len(shape) == 2 && gpt2Conv1D(ti.Name) {
			shape = []int{shape[1], shape[0]}
		}
		byKey[key] = ti.Name
		items = append(items, stItem{name: key, shape: shape, dtype: safetensors.F32})
	}
	err = x.writeSafetensors(vst, items, func(it stItem) (safetensors.Tensor, error) {
		name := byKey[it.name]
		ti, _ := f.Tensor(name)
		vals, err := f.Float32(name)
		if err != nil {
			return safetensors.Tensor{}, err
		}
		if h, ok := gguf.NeedsRoPEPermute(plan.arch, name, c.Heads, c.KVHeads); ok {
			cols := int(ti.Dims[0])
			if len(ti.Dims) == 1 {
				cols = 1
			}
			if vals, err = gguf.UnpermuteRoPE(vals, h, cols); err != nil {
				return safetensors.Tensor{}, fmt.Errorf("tensor %s: %v", name, err)
			}
		}
		if len(it.shape) == 2 && gpt2Conv1D(name) && plan.arch == gguf.ArchGPT2 {
			vals = transpose(vals, it.shape[1], it.shape[0])
		}
		return safetensors.F32Tensor(it.name, it.shape, vals), nil
	})
	if err != nil {
		return nil, fmt.Errorf("rebuilding a model from the GGUF: %w", err)
	}
	mm, err := model.Load(vdir, x.m.Be)
	if err != nil {
		return nil, fmt.Errorf("loading the model rebuilt from the GGUF: %w", err)
	}
	defer mm.Close()
	return logitsOf(mm, rows), nil
}

// gpt2Conv1D reports llama.cpp GPT-2 weights that Hugging Face stores
// [in, out].
func gpt2Conv1D(name string) bool {
	for _, s := range []string{".attn_qkv.weight", ".attn_output.weight", ".ffn_up.weight", ".ffn_down.weight"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// checkKVs compares the metadata read back with what was written.
func checkKVs(f *gguf.File, kvs []gguf.KV) error {
	if len(f.KVs) != len(kvs) {
		return fmt.Errorf("%s holds %d metadata entries, want %d", f.Path(), len(f.KVs), len(kvs))
	}
	for _, kv := range kvs {
		got, ok := f.Get(kv.Key)
		if !ok || !reflect.DeepEqual(got, kv.Value) {
			return fmt.Errorf("%s: metadata %q read back differs from what was written", f.Path(), kv.Key)
		}
	}
	return nil
}

// verifyGGUFAdapter reads the adapter back, rebuilds LoRA modules from its
// lora_a/lora_b tensors with llama.cpp's scale alpha/rank, and runs the
// base with them.
func (x *exporter) verifyGGUFAdapter(ref *model.Model, rows [][]int32, v *Verification) ([]float32, error) {
	v.Method = "GGUF adapter read back with Fynetune's reader; its lora_a/lora_b applied to the base with llama.cpp's scale adapter.lora.alpha/rank"
	plan := x.plan.(*adapterPlan)
	f, err := gguf.Open(x.st.path(plan.file))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := checkKVs(f, plan.kvs); err != nil {
		return nil, err
	}
	if len(f.Tensors) != 2*len(plan.mods) {
		return nil, fmt.Errorf("%s holds %d tensors, want %d", plan.file, len(f.Tensors), 2*len(plan.mods))
	}
	alpha, _ := f.GetFloat("adapter.lora.alpha")
	c := x.m.Config
	byName := map[string]*model.Linear{}
	for _, l := range ref.Linears() {
		if n, ok := gguf.TensorName(plan.arch, l.W.Name); ok {
			byName[n] = l
		}
	}
	type mod struct {
		lin  *model.Linear
		lora *train.Lora
	}
	var mods []mod
	for _, e := range plan.mods {
		lin := byName[e.name]
		ta, oka := f.Tensor(e.name + ".lora_a")
		tb, okb := f.Tensor(e.name + ".lora_b")
		if lin == nil || !oka || !okb {
			return nil, fmt.Errorf("%s: %s.lora_a/lora_b missing", plan.file, e.name)
		}
		if !reflect.DeepEqual(ta.Shape(), []int{e.r, lin.W.In}) || !reflect.DeepEqual(tb.Shape(), []int{lin.W.Out, e.r}) {
			return nil, fmt.Errorf("%s: %s lora_a %v / lora_b %v, want [%d %d] / [%d %d]", plan.file, e.name, ta.Shape(), tb.Shape(), e.r, lin.W.In, lin.W.Out, e.r)
		}
		a, err := f.Float32(ta.Name)
		if err != nil {
			return nil, err
		}
		b, err := f.Float32(tb.Name)
		if err != nil {
			return nil, err
		}
		v.MaxAbsTensorDiff = math.Max(v.MaxAbsTensorDiff, math.Max(maxAbsDiff(a, e.a), maxAbsDiff(b, e.b)))
		if h, ok := gguf.NeedsRoPEPermute(plan.arch, tb.Name, c.Heads, c.KVHeads); ok {
			if b, err = gguf.UnpermuteRoPE(b, h, e.r); err != nil {
				return nil, err
			}
		}
		be := ref.Be
		l := &train.Lora{Path: lin.Path, Scale: float32(alpha / float64(e.r)), A: be.NewTensor(e.r, lin.W.In), B: be.NewTensor(lin.W.Out, e.r)}
		be.Upload(l.A, a)
		be.Upload(l.B, b)
		mods = append(mods, mod{lin, l})
	}
	var got []float32
	err = withAdapters(ref, func() error {
		for _, md := range mods {
			md.lin.Adapter = md.lora
		}
		got = logitsOf(ref, rows)
		return nil
	})
	return got, err
}
