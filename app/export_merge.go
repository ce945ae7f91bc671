package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/model/safetensors"
	"github.com/fynetune/fynetune/train"
)

// maxShardBytes is the largest safetensors file a merged export writes;
// a larger model is sharded with an index. A variable for tests.
var maxShardBytes int64 = 2 << 30

// merger produces the model's weights with the adapters merged in, from
// the original weights on disk.
type merger struct {
	m     *model.Model
	ck    *safetensors.Checkpoint
	byKey map[string]mergeMod // checkpoint key of a weight -> its adapter
}

type mergeMod struct {
	lin  *model.Linear
	lora *train.Lora
}

func newMerger(m *model.Model, set *train.Adapters) (*merger, error) {
	ck := m.Checkpoint()
	if ck == nil {
		return nil, fmt.Errorf("the model's weight files are closed")
	}
	g := &merger{m: m, ck: ck, byKey: map[string]mergeMod{}}
	if set == nil {
		return g, nil
	}
	byPath := map[string]*model.Linear{}
	for _, l := range m.Linears() {
		byPath[l.Path] = l
	}
	for _, l := range set.Mods {
		lin := byPath[l.Path]
		if lin == nil {
			return nil, fmt.Errorf("adapter module %s is not a linear module of the model", l.Path)
		}
		if !ck.Has(lin.W.Name) {
			return nil, fmt.Errorf("%s: weight %q of adapted module %s is not in the checkpoint", m.Dir, lin.W.Name, l.Path)
		}
		g.byKey[lin.W.Name] = mergeMod{lin: lin, lora: l}
	}
	return g, nil
}

// adapted reports whether the checkpoint tensor key receives an adapter.
func (g *merger) adapted(key string) bool { _, ok := g.byKey[key]; return ok }

// f32 returns the checkpoint tensor key as float32 with its adapter (if
// any) merged: W + s·B·A, in the checkpoint's layout (GPT-2's Conv1D
// weights are [in, out], so they receive (s·B·A)ᵀ). The slice may view
// the read-only checkpoint mapping: callers must not modify it.
func (g *merger) f32(key string) ([]float32, error) {
	v, err := g.ck.Float32(key)
	if err != nil {
		return nil, err
	}
	mm, ok := g.byKey[key]
	if !ok {
		return v, nil
	}
	w := make([]float32, len(v))
	copy(w, v)
	d := g.delta(mm)
	if len(d) != len(w) {
		return nil, fmt.Errorf("tensor %q: %d values, its adapter's update has %d", key, len(w), len(d))
	}
	for i := range w {
		w[i] += d[i]
	}
	return w, nil
}

// delta computes s·B·A (or its transpose for a Conv1D weight) on the
// backend and returns it on the host.
func (g *merger) delta(mm mergeMod) []float32 {
	be, l, w := g.m.Be, mm.lora, mm.lin.W
	var c *compute.Tensor
	if w.Transposed {
		c = be.NewTensor(w.In, w.Out)
		be.MatMul(c, l.A, l.B, true, true, l.Scale, 0) // (s·B·A)ᵀ = s·Aᵀ·Bᵀ
	} else {
		c = be.NewTensor(w.Out, w.In)
		be.MatMul(c, l.B, l.A, false, false, l.Scale, 0)
	}
	host := make([]float32, c.Len())
	be.Download(host, c)
	return host
}

// download returns a backend tensor's values.
func download(be compute.Backend, t *compute.Tensor) []float32 {
	host := make([]float32, t.Len())
	be.Download(host, t)
	return host
}

// checkNoOpAdapter warns when every module's update B·A is zero.
func (x *exporter) checkNoOpAdapter() {
	for _, l := range x.set.Mods {
		if !allZero(download(x.m.Be, l.B)) && !allZero(download(x.m.Be, l.A)) {
			return
		}
	}
	x.warn("the adapter is a no-op: lora_B (or lora_A) is zero in every module, so it changes nothing (an untrained adapter?)")
}

func allZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// writePEFT writes adapter_config.json and adapter_model.safetensors.
func (x *exporter) writePEFT() error {
	js, err := json.MarshalIndent(train.AdapterConfig(x.set, x.m), "", "  ")
	if err != nil {
		return err
	}
	ts := train.AdapterTensors(x.set, x.m.Be)
	x.rep.DType = "f32"
	x.tol = TolF32
	if err := x.st.write(train.AdapterWeightsFile, func(w io.Writer) error {
		return safetensors.WriteTo(w, ts, map[string]string{"format": "pt"})
	}); err != nil {
		return err
	}
	return x.st.writeBytes(train.AdapterConfigFile, append(js, '\n'))
}

// modelFile reports the files of a model folder that go with its weights:
// config, tokenizer, generation config, chat template.
func modelFile(name string) bool {
	switch {
	case name == safetensors.IndexFileName || name == train.AdapterConfigFile:
		return false
	case strings.HasSuffix(name, ".json"), strings.HasSuffix(name, ".jinja"),
		name == "merges.txt", name == "tokenizer.model", name == "vocab.txt":
		return true
	}
	return false
}

// copyModelFiles copies the config and tokenizer files of the model folder
// into the stage (under sub), setting config.json's torch_dtype when
// torchDType is not "".
func (x *exporter) copyModelFiles(st *stage, torchDType string) error {
	entries, err := os.ReadDir(x.m.Dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() || !modelFile(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(x.m.Dir, e.Name()))
		if err != nil {
			return err
		}
		if e.Name() == "config.json" && torchDType != "" {
			if b, err = setTorchDType(b, torchDType); err != nil {
				return fmt.Errorf("%s: %v", filepath.Join(x.m.Dir, e.Name()), err)
			}
		}
		if err := st.writeBytes(e.Name(), b); err != nil {
			return err
		}
	}
	return nil
}

// setTorchDType rewrites config.json's torch_dtype, keeping every other
// value as written (numbers are not reformatted).
func setTorchDType(raw []byte, dt string) ([]byte, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	cfg["torch_dtype"], _ = json.Marshal(dt)
	out, err := json.MarshalIndent(cfg, "", "  ")
	return append(out, '\n'), err
}

var torchNames = map[safetensors.DType]string{safetensors.F32: "float32", safetensors.F16: "float16", safetensors.BF16: "bfloat16"}

// dtypeByName maps the option spelling to a safetensors type.
var dtypeByName = map[string]safetensors.DType{"f32": safetensors.F32, "f16": safetensors.F16, "bf16": safetensors.BF16}

// encodeST encodes values as a safetensors tensor of type dt.
func encodeST(name string, shape []int, v []float32, dt safetensors.DType) safetensors.Tensor {
	switch dt {
	case safetensors.F16:
		return safetensors.F16Tensor(name, shape, v)
	case safetensors.BF16:
		return safetensors.BF16Tensor(name, shape, v)
	}
	return safetensors.F32Tensor(name, shape, v)
}

// tolFor is the logit tolerance for weights stored as dt.
func tolFor(dt string) float64 {
	switch dt {
	case "f32":
		return TolF32
	case "f16", "bf16":
		return TolF16
	case "q8_0":
		return TolQ8_0
	}
	return 0
}

// precision orders types from most to least precise.
var precision = map[string]int{"f32": 0, "bf16": 2, "f16": 1, "q8_0": 3, "q4_0": 4}

// worst returns the least precise of the types.
func worst(types map[string]bool) string {
	w := ""
	for t := range types {
		if w == "" || precision[t] > precision[w] {
			w = t
		}
	}
	return w
}

func dtypeNames(types map[string]bool) string {
	var s []string
	for t := range types {
		s = append(s, t)
	}
	sort.Strings(s)
	return strings.Join(s, "+")
}

// mergedPlan records what a merged export wrote, for verification.
type mergedPlan struct {
	out map[string]safetensors.DType // tensor -> type written
}

// writeMerged writes the merged model as a Hugging Face folder.
func (x *exporter) writeMerged() error {
	ck := x.mg.ck
	want := dtypeByName[x.opt.DType]
	torch := ""
	if x.opt.DType != "" {
		torch = torchNames[want]
	}
	if err := x.copyModelFiles(x.st, torch); err != nil {
		return err
	}
	plan := &mergedPlan{out: map[string]safetensors.DType{}}
	x.plan = plan
	used := map[string]bool{}
	var items []stItem
	for _, name := range ck.Names() {
		info, _ := ck.Info(name)
		dt := info.DType
		if dt.IsFloat() {
			if x.opt.DType != "" {
				dt = want
			} else if dt == safetensors.F64 {
				dt = safetensors.F32
			}
			if !isBuffer(name) {
				used[strings.ToLower(dt.String())] = true
			}
		}
		plan.out[name] = dt
		items = append(items, stItem{name: name, shape: info.Shape, dtype: dt})
	}
	x.rep.DType = dtypeNames(used)
	x.tol = tolFor(worst(used))
	changed, adapted := 0, 0
	tensor := func(it stItem) (safetensors.Tensor, error) {
		info, _ := ck.Info(it.name)
		if !x.mg.adapted(it.name) && (it.dtype == info.DType || !info.DType.IsFloat()) {
			raw, err := ck.Bytes(it.name)
			return safetensors.Tensor{Name: it.name, DType: info.DType, Shape: info.Shape, Data: raw}, err
		}
		v, err := x.mg.f32(it.name)
		if err != nil {
			return safetensors.Tensor{}, err
		}
		t := encodeST(it.name, it.shape, v, it.dtype)
		if x.mg.adapted(it.name) {
			adapted++
			base, err := ck.Float32(it.name)
			if err != nil {
				return t, err
			}
			if !bytes.Equal(encodeST(it.name, it.shape, base, it.dtype).Data, t.Data) {
				changed++
			}
		}
		return t, nil
	}
	if err := x.writeSafetensors(x.st, items, tensor); err != nil {
		return err
	}
	if adapted > 0 && changed == 0 {
		x.warn("the merged weights are identical to the base model's at %s: the adapter changes nothing", x.rep.DType)
	}
	if x.set == nil {
		x.note("no adapter: the base model was exported as it is")
	}
	return nil
}

// stItem is a tensor to write to safetensors.
type stItem struct {
	name  string
	shape []int
	dtype safetensors.DType
}

// writeSafetensors writes items as model.safetensors, or as shards of at
// most maxShardBytes with model.safetensors.index.json, producing each
// tensor's data only when its shard is written.
func (x *exporter) writeSafetensors(st *stage, items []stItem, tensor func(stItem) (safetensors.Tensor, error)) error {
	sort.Slice(items, func(i, j int) bool { return items[i].name < items[j].name })
	var shards [][]stItem
	var cur []stItem
	var curBytes, total int64
	for _, it := range items {
		n := int64(it.dtype.Size())
		for _, d := range it.shape {
			n *= int64(d)
		}
		if len(cur) > 0 && curBytes+n > maxShardBytes {
			shards = append(shards, cur)
			cur, curBytes = nil, 0
		}
		cur = append(cur, it)
		curBytes += n
		total += n
	}
	shards = append(shards, cur)
	meta := map[string]string{"format": "pt"}
	weightMap := map[string]string{}
	for i, shard := range shards {
		name := safetensors.SingleFileName
		if len(shards) > 1 {
			name = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		}
		if st == x.st {
			x.logf("writing %s (%d tensors)", name, len(shard))
		}
		ts := make([]safetensors.Tensor, 0, len(shard))
		for _, it := range shard {
			if err := x.ctx.Err(); err != nil {
				return err
			}
			t, err := tensor(it)
			if err != nil {
				return err
			}
			ts = append(ts, t)
			weightMap[it.name] = name
		}
		if err := st.write(name, func(w io.Writer) error { return safetensors.WriteTo(w, ts, meta) }); err != nil {
			return err
		}
	}
	if len(shards) == 1 {
		return nil
	}
	index := struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}{map[string]int64{"total_size": total}, weightMap}
	js, err := json.MarshalIndent(index, "", "  ")
	if err != nil {
		return err
	}
	return st.writeBytes(safetensors.IndexFileName, append(js, '\n'))
}

// readPeftConfig reads an adapter folder's adapter_config.json.
func readPeftConfig(dir string) (*train.PeftConfig, error) {
	p := filepath.Join(dir, train.AdapterConfigFile)
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var c train.PeftConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%s: invalid JSON: %v", p, err)
	}
	return &c, nil
}
