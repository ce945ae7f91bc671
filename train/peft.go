package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/model/safetensors"
)

// PEFT adapter files, as Hugging Face PEFT writes and reads them.
const (
	AdapterConfigFile  = "adapter_config.json"
	AdapterWeightsFile = "adapter_model.safetensors"
)

// PeftConfig is adapter_config.json.
type PeftConfig struct {
	PeftType            string   `json:"peft_type"`
	TaskType            string   `json:"task_type"`
	R                   int      `json:"r"`
	LoraAlpha           float64  `json:"lora_alpha"`
	LoraDropout         float64  `json:"lora_dropout"`
	TargetModules       []string `json:"target_modules"`
	UseRSLora           bool     `json:"use_rslora"`
	Bias                string   `json:"bias"`
	BaseModelNameOrPath string   `json:"base_model_name_or_path"`
	FanInFanOut         bool     `json:"fan_in_fan_out"`
	InferenceMode       bool     `json:"inference_mode"`
	InitLoraWeights     bool     `json:"init_lora_weights"`
	ModulesToSave       []string `json:"modules_to_save"`
	UseDora             bool     `json:"use_dora"`
}

// SaveAdapter writes the adapters in PEFT's format into dir, atomically per
// file: adapter_config.json and adapter_model.safetensors with PEFT's keys,
// in f32.
func SaveAdapter(dir string, set *Adapters, m *model.Model) error {
	return SaveAdapterBits(dir, set, m, 0)
}

// SaveAdapterBits is SaveAdapter with the matrices stored at 8 or 4 bits
// (bits 0: f32; see adapterTensor): compact, read back by LoadAdapter, but
// not by PEFT itself — export to PEFT writes f32.
func SaveAdapterBits(dir string, set *Adapters, m *model.Model, bits int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(AdapterConfig(set, m), "", "  ")
	if err != nil {
		return err
	}
	meta := map[string]string{"format": "pt"}
	ts := AdapterTensors(set, m.Be)
	if bits != 0 {
		ts = ts[:0]
		for _, l := range set.Mods {
			ts = append(ts,
				adapterTensor(l.KeyA(), l.A.Shape, download(m.Be, l.A), bits, meta),
				adapterTensor(l.KeyB(), l.B.Shape, download(m.Be, l.B), bits, meta))
		}
	}
	if err := safetensors.Write(filepath.Join(dir, AdapterWeightsFile), ts, meta); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, AdapterConfigFile), append(js, '\n'))
}

// AdapterConfig returns the adapter_config.json that describes set, trained
// on m: LORA for CAUSAL_LM, its rank, alpha, dropout and target module
// names, and fan_in_fan_out for GPT-2's Conv1D layers.
func AdapterConfig(set *Adapters, m *model.Model) PeftConfig {
	targets := map[string]bool{}
	for _, l := range set.Mods {
		targets[lastPart(l.Path)] = true
	}
	names := make([]string, 0, len(targets))
	for t := range targets {
		names = append(names, t)
	}
	sort.Strings(names)
	base := m.Dir
	if abs, err := filepath.Abs(base); err == nil {
		base = abs
	}
	return PeftConfig{PeftType: "LORA", TaskType: "CAUSAL_LM", R: set.Config.Rank, LoraAlpha: set.Config.Alpha,
		LoraDropout: set.Config.Dropout, TargetModules: names, UseRSLora: set.Config.RSLora, Bias: "none",
		BaseModelNameOrPath: base, FanInFanOut: m.Config.Arch == model.ArchGPT2, InferenceMode: true,
		InitLoraWeights: true}
}

// AdapterTensors returns every module's A and B under PEFT's keys, in f32.
// The values are read through be (a GPU backend keeps no host copy).
func AdapterTensors(set *Adapters, be compute.Backend) []safetensors.Tensor {
	var ts []safetensors.Tensor
	for _, l := range set.Mods {
		for _, p := range []struct {
			key string
			t   *compute.Tensor
		}{{l.KeyA(), l.A}, {l.KeyB(), l.B}} {
			host := make([]float32, p.t.Len())
			be.Download(host, p.t)
			ts = append(ts, safetensors.F32Tensor(p.key, p.t.Shape, host))
		}
	}
	return ts
}

// adapterKey matches PEFT keys, with or without the adapter-name segment
// ("lora_A.default.weight") and with or without "base_model.model.".
var adapterKey = regexp.MustCompile(`^(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$`)

// LoadAdapter reads a PEFT LoRA adapter folder and attaches it to m. The
// adapter must have been trained for a model of the same shapes.
func LoadAdapter(dir string, m *model.Model) (*Adapters, error) {
	cpath := filepath.Join(dir, AdapterConfigFile)
	raw, err := os.ReadFile(cpath)
	if err != nil {
		return nil, fmt.Errorf("adapter %s: %w", dir, err)
	}
	var pc PeftConfig
	if err := json.Unmarshal(raw, &pc); err != nil {
		return nil, fmt.Errorf("%s: invalid JSON: %v", cpath, err)
	}
	if pc.PeftType != "" && pc.PeftType != "LORA" {
		return nil, fmt.Errorf("%s: peft_type %q is not supported (LORA)", cpath, pc.PeftType)
	}
	if pc.R < 1 {
		return nil, fmt.Errorf("%s: r is %d", cpath, pc.R)
	}
	if pc.UseDora {
		return nil, fmt.Errorf("%s: DoRA adapters are not supported", cpath)
	}
	wpath := filepath.Join(dir, AdapterWeightsFile)
	f, err := safetensors.Open(wpath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type pair struct{ a, b string }
	found := map[string]*pair{}
	for _, name := range f.Names() {
		mm := adapterKey.FindStringSubmatch(name)
		if mm == nil {
			continue
		}
		p := found[mm[1]]
		if p == nil {
			p = &pair{}
			found[mm[1]] = p
		}
		if mm[2] == "A" {
			p.a = name
		} else {
			p.b = name
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%s: no LoRA tensors (keys like base_model.model.<module>.lora_A.weight)", wpath)
	}
	byPath := map[string]*model.Linear{}
	for _, l := range m.Linears() {
		byPath[l.Path] = l
		// Some GPT-2 adapters were trained on GPT2Model, without "transformer.".
		byPath[strings.TrimPrefix(l.Path, "transformer.")] = l
	}
	set := &Adapters{Config: LoraConfig{Rank: pc.R, Alpha: pc.LoraAlpha, RSLora: pc.UseRSLora, Dropout: pc.LoraDropout, Targets: pc.TargetModules}}
	paths := make([]string, 0, len(found))
	for p := range found {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	scale := set.Config.Scale()
	for _, path := range paths {
		p := found[path]
		lin := byPath[path]
		if lin == nil {
			return nil, fmt.Errorf("%s: module %q is not a linear module of this %s model", wpath, path, m.Config.ModelType)
		}
		if p.a == "" || p.b == "" {
			return nil, fmt.Errorf("%s: module %q has only one of lora_A and lora_B", wpath, path)
		}
		sa, a, err := readAdapterTensor(f, p.a)
		if err != nil {
			return nil, err
		}
		sb, b, err := readAdapterTensor(f, p.b)
		if err != nil {
			return nil, err
		}
		if len(sa) != 2 || len(sb) != 2 || sa[1] != lin.W.In || sb[0] != lin.W.Out || sb[1] != sa[0] {
			return nil, fmt.Errorf("%s: %s is %v and %s is %v; module %s needs [r %d] and [%d r]", wpath, p.a, sa, p.b, sb, path, lin.W.In, lin.W.Out)
		}
		r := sa[0]
		be := m.Be
		l := &Lora{Path: lin.Path, Scale: scale, A: be.NewTensor(r, lin.W.In), B: be.NewTensor(lin.W.Out, r),
			GA: be.NewTensor(r, lin.W.In), GB: be.NewTensor(lin.W.Out, r)}
		if r != pc.R {
			// rank_pattern: per-module ranks keep lora_alpha; scale by this rank.
			c := set.Config
			c.Rank = r
			l.Scale = c.Scale()
		}
		be.Upload(l.A, a)
		be.Upload(l.B, b)
		if lin.Adapter != nil {
			return nil, fmt.Errorf("module %s already has an adapter", lin.Path)
		}
		lin.Adapter = l
		set.Mods = append(set.Mods, l)
	}
	// Keep the model's layer order.
	order := map[string]int{}
	for i, l := range m.Linears() {
		order[l.Path] = i
	}
	sort.Slice(set.Mods, func(i, j int) bool { return order[set.Mods[i].Path] < order[set.Mods[j].Path] })
	return set, nil
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and
// renames it into place, so a crash never leaves a half-written file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
