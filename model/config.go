package model

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Arch is an architecture family: the code path that runs a model.
type Arch string

// The architecture families Fynetune runs.
const (
	ArchGPT2  Arch = "gpt2"  // GPT-2: LayerNorm, learned positions, fused c_attn, Conv1D weights
	ArchLlama Arch = "llama" // Llama family: RMSNorm, RoPE, GQA, SwiGLU (llama, mistral, qwen2)
)

// supportedTypes maps config.json's model_type to the family that runs it.
var supportedTypes = map[string]Arch{
	"gpt2":    ArchGPT2,
	"llama":   ArchLlama,
	"mistral": ArchLlama,
	"qwen2":   ArchLlama,
}

// SupportedModelTypes lists the model_type values Fynetune can load.
func SupportedModelTypes() []string {
	out := make([]string, 0, len(supportedTypes))
	for k := range supportedTypes {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Config is the part of a Hugging Face config.json that the engine needs,
// normalised across architectures.
type Config struct {
	ModelType  string // as in config.json: gpt2, llama, mistral, qwen2
	Arch       Arch
	Vocab      int
	Dim        int // hidden size
	Layers     int
	Heads      int
	KVHeads    int
	HeadDim    int
	FFN        int // MLP inner size
	MaxPos     int // context length
	NormEps    float32
	RopeTheta  float32
	TiedHead   bool
	QKVBias    bool // q/k/v projections carry biases (Qwen2, attention_bias)
	OBias      bool // o_proj carries a bias (attention_bias)
	MLPBias    bool
	Activation string
	BOS        int   // -1 when none
	EOS        []int // end-of-sequence ids (config may list several)
	TorchDType string
}

// rawConfig holds every config.json key any supported family uses.
type rawConfig struct {
	ModelType string `json:"model_type"`
	VocabSize int    `json:"vocab_size"`

	// GPT-2 names
	NEmbd      int      `json:"n_embd"`
	NLayer     int      `json:"n_layer"`
	NHead      int      `json:"n_head"`
	NInner     *int     `json:"n_inner"`
	NPositions int      `json:"n_positions"`
	NCtx       int      `json:"n_ctx"`
	LNEps      *float64 `json:"layer_norm_epsilon"`
	ActFn      string   `json:"activation_function"`

	// Llama-family names
	HiddenSize   int      `json:"hidden_size"`
	Intermediate int      `json:"intermediate_size"`
	NumLayers    int      `json:"num_hidden_layers"`
	NumHeads     int      `json:"num_attention_heads"`
	NumKVHeads   *int     `json:"num_key_value_heads"`
	HeadDim      *int     `json:"head_dim"`
	MaxPosEmb    int      `json:"max_position_embeddings"`
	RMSEps       *float64 `json:"rms_norm_eps"`
	RopeTheta    *float64 `json:"rope_theta"`
	HiddenAct    string   `json:"hidden_act"`
	AttnBias     *bool    `json:"attention_bias"`
	MLPBias      *bool    `json:"mlp_bias"`
	RopeScaling  any      `json:"rope_scaling"`

	Tie        *bool           `json:"tie_word_embeddings"`
	BOS        json.RawMessage `json:"bos_token_id"`
	EOS        json.RawMessage `json:"eos_token_id"`
	TorchDType string          `json:"torch_dtype"`
}

// LoadConfig reads and checks dir/config.json.
func LoadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, errNoConfig(err))
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func errNoConfig(err error) error {
	if os.IsNotExist(err) {
		return fmt.Errorf("no config.json: a Hugging Face model folder holds config.json, model.safetensors and tokenizer.json")
	}
	return err
}

// ParseConfig parses the contents of a config.json.
func ParseConfig(data []byte) (*Config, error) {
	var r rawConfig
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	arch, ok := supportedTypes[r.ModelType]
	if !ok {
		if r.ModelType == "" {
			return nil, fmt.Errorf("no model_type; supported model types: %s", strings.Join(SupportedModelTypes(), ", "))
		}
		return nil, fmt.Errorf("unsupported model_type %q; supported model types: %s", r.ModelType, strings.Join(SupportedModelTypes(), ", "))
	}
	c := &Config{ModelType: r.ModelType, Arch: arch, Vocab: r.VocabSize, TorchDType: r.TorchDType, BOS: -1}
	switch arch {
	case ArchGPT2:
		c.Dim, c.Layers, c.Heads = r.NEmbd, r.NLayer, r.NHead
		c.KVHeads = c.Heads
		c.FFN = 4 * c.Dim
		if r.NInner != nil && *r.NInner > 0 {
			c.FFN = *r.NInner
		}
		c.MaxPos = r.NPositions
		if c.MaxPos == 0 {
			c.MaxPos = r.NCtx
		}
		c.NormEps = 1e-5
		if r.LNEps != nil {
			c.NormEps = float32(*r.LNEps)
		}
		c.Activation = r.ActFn
		if c.Activation == "" {
			c.Activation = "gelu_new"
		}
		if c.Activation != "gelu_new" && c.Activation != "gelu_pytorch_tanh" && c.Activation != "gelu" {
			return nil, fmt.Errorf("activation_function %q not supported (gelu_new, gelu_pytorch_tanh)", c.Activation)
		}
		c.TiedHead = r.Tie == nil || *r.Tie
		c.QKVBias, c.OBias, c.MLPBias = true, true, true
	case ArchLlama:
		c.Dim, c.Layers, c.Heads = r.HiddenSize, r.NumLayers, r.NumHeads
		c.KVHeads = c.Heads
		if r.NumKVHeads != nil && *r.NumKVHeads > 0 {
			c.KVHeads = *r.NumKVHeads
		}
		c.FFN = r.Intermediate
		c.MaxPos = r.MaxPosEmb
		c.NormEps = 1e-6
		if r.RMSEps != nil {
			c.NormEps = float32(*r.RMSEps)
		}
		c.RopeTheta = 10000
		if r.RopeTheta != nil {
			c.RopeTheta = float32(*r.RopeTheta)
		}
		c.Activation = r.HiddenAct
		if c.Activation == "" {
			c.Activation = "silu"
		}
		if c.Activation != "silu" {
			return nil, fmt.Errorf("hidden_act %q not supported (silu)", c.Activation)
		}
		if m, ok := r.RopeScaling.(map[string]any); ok && len(m) > 0 {
			if t, _ := m["rope_type"].(string); t != "" && t != "default" {
				return nil, fmt.Errorf("rope_scaling type %q not supported yet (only unscaled RoPE)", t)
			}
		}
		c.TiedHead = r.Tie != nil && *r.Tie
		if r.ModelType == "qwen2" {
			c.QKVBias = true
		}
		if r.AttnBias != nil && *r.AttnBias {
			c.QKVBias, c.OBias = true, true
		}
		c.MLPBias = r.MLPBias != nil && *r.MLPBias
	}
	if c.Heads > 0 && c.Dim > 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	if r.HeadDim != nil && *r.HeadDim > 0 {
		c.HeadDim = *r.HeadDim
	}
	var err error
	if c.BOS, err = firstID(r.BOS); err != nil {
		return nil, fmt.Errorf("bos_token_id: %v", err)
	}
	if c.EOS, err = ids(r.EOS); err != nil {
		return nil, fmt.Errorf("eos_token_id: %v", err)
	}
	return c, c.check()
}

func (c *Config) check() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab size", c.Vocab}, {"hidden size", c.Dim}, {"layer count", c.Layers}, {"head count", c.Heads},
		{"key/value head count", c.KVHeads}, {"head dim", c.HeadDim}, {"MLP size", c.FFN}, {"context length", c.MaxPos}} {
		if f.v <= 0 {
			return fmt.Errorf("%s model: %s is %d, must be positive", c.ModelType, f.name, f.v)
		}
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("%s model: %d attention heads is not a multiple of %d key/value heads", c.ModelType, c.Heads, c.KVHeads)
	}
	if c.Arch == ArchGPT2 && c.HeadDim*c.Heads != c.Dim {
		return fmt.Errorf("gpt2 model: n_embd %d is not divisible by n_head %d", c.Dim, c.Heads)
	}
	if c.HeadDim%2 != 0 && c.Arch == ArchLlama {
		return fmt.Errorf("%s model: head dim %d must be even for RoPE", c.ModelType, c.HeadDim)
	}
	return nil
}

// ids decodes a token id field that may be null, a number or a list.
func ids(raw json.RawMessage) ([]int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one int
	if err := json.Unmarshal(raw, &one); err == nil {
		return []int{one}, nil
	}
	var many []int
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("want an integer or a list of integers, got %s", raw)
	}
	return many, nil
}

func firstID(raw json.RawMessage) (int, error) {
	v, err := ids(raw)
	if err != nil || len(v) == 0 {
		return -1, err
	}
	return v[0], nil
}

// NumParams is the parameter count implied by the config (tied heads counted once).
func (c *Config) NumParams() int64 {
	D, F, V := int64(c.Dim), int64(c.FFN), int64(c.Vocab)
	q := int64(c.Heads * c.HeadDim)
	kv := int64(c.KVHeads * c.HeadDim)
	var per, n int64
	switch c.Arch {
	case ArchGPT2:
		per = 2*D + D*3*D + 3*D + D*D + D + 2*D + D*F + F + F*D + D
		n = V*D + int64(c.MaxPos)*D + 2*D
	default:
		per = D + D*q + 2*D*kv + q*D + D + 3*D*F
		if c.QKVBias {
			per += q + 2*kv
		}
		if c.OBias {
			per += D
		}
		if c.MLPBias {
			per += 2*F + D
		}
		n = V*D + D
	}
	n += int64(c.Layers) * per
	if !c.TiedHead {
		n += V * D
	}
	return n
}
