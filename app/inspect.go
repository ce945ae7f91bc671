package app

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/model/gguf"
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
	Format          string           `json:"format"`         // "safetensors" (a Hugging Face folder) or "gguf"
	GGUF            *GGUFInfo        `json:"gguf,omitempty"` // GGUF specifics, for a GGUF file
}

// GGUFInfo is what a GGUF file says about itself beyond ModelInfo.
type GGUFInfo struct {
	Path           string  `json:"path"`
	Version        uint32  `json:"version"`
	Type           string  `json:"type"` // general.type: "model" or "adapter" ("" when absent)
	Name           string  `json:"name,omitempty"`
	FileType       int     `json:"file_type"` // general.file_type, -1 when absent
	Alignment      int     `json:"alignment"`
	Metadata       int     `json:"metadata_entries"`
	Tensors        int     `json:"tensors"`
	TokenizerModel string  `json:"tokenizer_model,omitempty"` // tokenizer.ggml.model
	AdapterType    string  `json:"adapter_type,omitempty"`    // adapter.type
	LoraAlpha      float64 `json:"lora_alpha,omitempty"`      // adapter.lora.alpha
}

// Inspect reads config.json, the safetensors headers and the tokenizer of a
// model folder. Weights are not read.
//
// A GGUF file, or a folder without config.json that holds exactly one
// .gguf file, is described from its metadata and tensor infos (see
// InspectGGUF).
func Inspect(dir string) (*ModelInfo, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("model folder %s: %w", dir, err)
	} else if !st.IsDir() {
		if strings.HasSuffix(strings.ToLower(dir), ".gguf") {
			return InspectGGUF(dir)
		}
		return nil, fmt.Errorf("%s is a file; give the model folder that holds config.json (or a .gguf file)", dir)
	}
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		g, _ := filepath.Glob(filepath.Join(dir, "*.gguf"))
		if len(g) == 1 {
			return InspectGGUF(g[0])
		}
		if len(g) > 1 {
			return nil, fmt.Errorf("%s holds %d GGUF files and no config.json; give one of them: %s", dir, len(g), strings.Join(g, ", "))
		}
		return nil, err
	}
	info := &ModelInfo{
		Dir: dir, ModelType: cfg.ModelType, Architecture: string(cfg.Arch), Layers: cfg.Layers,
		Hidden: cfg.Dim, Heads: cfg.Heads, KVHeads: cfg.KVHeads, HeadDim: cfg.HeadDim, FFN: cfg.FFN,
		Context: cfg.MaxPos, Vocab: cfg.Vocab, TiedHead: cfg.TiedHead, DTypes: map[string]int64{},
		Format: "safetensors",
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

// InspectGGUF describes a GGUF file (a model or a LoRA adapter) from its
// metadata and tensor infos, read with package gguf; tensor data is not
// read. Architecture and shape fields come from the <arch>.* keys
// llama.cpp uses; those a file does not carry stay 0.
func InspectGGUF(path string) (*ModelInfo, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	arch := f.Architecture()
	u := func(key string) int {
		v, _ := f.GetUint(arch + "." + key)
		return int(v)
	}
	info := &ModelInfo{Dir: path, Format: "gguf", ModelType: arch, Architecture: arch,
		Layers: u("block_count"), Hidden: u("embedding_length"), Heads: u("attention.head_count"),
		KVHeads: u("attention.head_count_kv"), FFN: u("feed_forward_length"), Context: u("context_length"),
		DTypes: map[string]int64{}, BytesOnDisk: f.Size(), Files: []string{filepath.Base(path)}}
	if info.KVHeads == 0 {
		info.KVHeads = info.Heads
	}
	if info.HeadDim = u("attention.key_length"); info.HeadDim == 0 && info.Heads > 0 {
		info.HeadDim = info.Hidden / info.Heads
	}
	g := &GGUFInfo{Path: path, Version: f.Version, Alignment: f.Alignment, Metadata: len(f.KVs), Tensors: len(f.Tensors), FileType: -1}
	g.Type, _ = f.GetString("general.type")
	g.Name, _ = f.GetString("general.name")
	if ft, ok := f.GetUint("general.file_type"); ok {
		g.FileType = int(ft)
	}
	g.TokenizerModel, _ = f.GetString("tokenizer.ggml.model")
	g.AdapterType, _ = f.GetString("adapter.type")
	g.LoraAlpha, _ = f.GetFloat("adapter.lora.alpha")
	info.GGUF = g
	hasOutput := false
	for _, t := range f.Tensors {
		info.Params += t.Elements()
		info.DTypes[strings.ToLower(t.Type.String())] += t.Elements()
		hasOutput = hasOutput || t.Name == "output.weight"
	}
	if emb, ok := f.Tensor("token_embd.weight"); ok {
		info.Vocab = emb.Shape()[0]
		info.TiedHead = !hasOutput
	}
	if toks, ok := f.GetStrings("tokenizer.ggml.tokens"); ok {
		info.TokenizerVocab = len(toks)
		if info.Vocab == 0 {
			info.Vocab = len(toks)
		}
		switch g.TokenizerModel {
		case "gpt2":
			info.TokenizerKind = tokenizer.KindByteLevel
		case "llama":
			info.TokenizerKind = tokenizer.KindSentencePiece
		default:
			info.TokenizerKind = g.TokenizerModel
		}
	}
	tmpl, _ := f.GetString("tokenizer.chat_template")
	info.HasChatTemplate = tmpl != ""
	if c := ggufConfig(arch); c != nil {
		info.LinearModules = LinearModuleNames(c)
	}
	return info, nil
}

// ggufConfig returns a config of the family of a llama.cpp architecture,
// enough for LinearModuleNames, or nil.
func ggufConfig(arch string) *model.Config {
	switch arch {
	case gguf.ArchGPT2:
		return &model.Config{Arch: model.ArchGPT2}
	case gguf.ArchLlama, gguf.ArchQwen2:
		return &model.Config{Arch: model.ArchLlama}
	}
	return nil
}
