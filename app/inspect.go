package app

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/model/safetensors"
	"github.com/fynetune/fynetune/model/tokenizer"
)

// ModelInfo describes a model folder without loading its weights onto a
// backend: what the model pane and `fynetune inspect` show.
type ModelInfo struct {
	Dir             string           `json:"dir"`
	ModelType       string           `json:"model_type"`
	Architecture    string           `json:"architecture"`
	Layers          int              `json:"layers"`
	Hidden          int              `json:"hidden_size"`
	Heads           int              `json:"heads"`
	KVHeads         int              `json:"kv_heads"`
	HeadDim         int              `json:"head_dim"`
	FFN             int              `json:"intermediate_size"`
	Context         int              `json:"context_length"`
	Vocab           int              `json:"vocab_size"`
	TiedHead        bool             `json:"tied_head"`
	Params          int64            `json:"parameters"`
	DTypes          map[string]int64 `json:"dtypes"` // storage dtype -> parameter count
	BytesOnDisk     int64            `json:"bytes_on_disk"`
	Files           []string         `json:"files"`
	TokenizerKind   string           `json:"tokenizer"`
	TokenizerVocab  int              `json:"tokenizer_vocab_size"`
	HasChatTemplate bool             `json:"chat_template"`
	LinearModules   []string         `json:"linear_modules"` // module names LoRA can target
}

// Inspect reads config.json, the safetensors headers and the tokenizer of a
// model folder. Weights are not read.
func Inspect(dir string) (*ModelInfo, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("model folder %s: %w", dir, err)
	} else if !st.IsDir() {
		if strings.HasSuffix(strings.ToLower(dir), ".gguf") {
			return nil, fmt.Errorf("%s: GGUF files cannot be read yet; open a Hugging Face model folder (config.json, model.safetensors, tokenizer.json)", dir)
		}
		return nil, fmt.Errorf("%s is a file; give the model folder that holds config.json", dir)
	}
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		if g, _ := filepath.Glob(filepath.Join(dir, "*.gguf")); len(g) > 0 {
			return nil, fmt.Errorf("%s holds a GGUF file (%s), which Fynetune cannot read yet; open a Hugging Face model folder (config.json, model.safetensors, tokenizer.json)", dir, filepath.Base(g[0]))
		}
		return nil, err
	}
	info := &ModelInfo{
		Dir: dir, ModelType: cfg.ModelType, Architecture: string(cfg.Arch), Layers: cfg.Layers,
		Hidden: cfg.Dim, Heads: cfg.Heads, KVHeads: cfg.KVHeads, HeadDim: cfg.HeadDim, FFN: cfg.FFN,
		Context: cfg.MaxPos, Vocab: cfg.Vocab, TiedHead: cfg.TiedHead, DTypes: map[string]int64{},
	}
	ck, err := safetensors.OpenModel(dir)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	info.BytesOnDisk = ck.SizeBytes()
	files := map[string]bool{}
	for _, name := range ck.Names() {
		ti, _ := ck.Info(name)
		if isBuffer(name) {
			continue
		}
		n := int64(1)
		for _, d := range ti.Shape {
			n *= int64(d)
		}
		info.Params += n
		info.DTypes[ti.DType.String()] += n
		files[filepath.Base(ck.FileOf(name))] = true
	}
	for f := range files {
		info.Files = append(info.Files, f)
	}
	sort.Strings(info.Files)
	info.LinearModules = LinearModuleNames(cfg)
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	info.TokenizerKind = tok.Kind()
	info.TokenizerVocab = tok.VocabSize()
	info.HasChatTemplate = tok.ChatTemplate() != ""
	return info, nil
}

// isBuffer reports tensors that are not parameters (GPT-2's attention masks).
func isBuffer(name string) bool {
	return strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias")
}

// LinearModuleNames lists the module names LoRA can target for a config.
func LinearModuleNames(c *model.Config) []string {
	if c.Arch == model.ArchGPT2 {
		return []string{"c_attn", "c_proj", "c_fc"}
	}
	return []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
}
