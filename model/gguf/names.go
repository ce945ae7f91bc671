package gguf

import (
	"fmt"
	"regexp"
	"strings"
)

// Architectures this package maps Hugging Face tensor names for, as
// llama.cpp spells general.architecture.
const (
	ArchLlama = "llama" // llama, mistral: q/k rows permuted for GGML's RoPE
	ArchQwen2 = "qwen2" // qwen2: NeoX RoPE in llama.cpp, so no permutation
	ArchGPT2  = "gpt2"
)

// ArchFor returns the llama.cpp architecture for a Hugging Face model_type,
// or "" when there is none this package maps.
func ArchFor(modelType string) string {
	switch modelType {
	case "llama", "mistral":
		return ArchLlama
	case "qwen2":
		return ArchQwen2
	case "gpt2":
		return ArchGPT2
	}
	return ""
}

// Layer module names: Hugging Face suffix -> llama.cpp suffix.
var (
	llamaLayer = map[string]string{
		"input_layernorm":          "attn_norm",
		"self_attn.q_proj":         "attn_q",
		"self_attn.k_proj":         "attn_k",
		"self_attn.v_proj":         "attn_v",
		"self_attn.o_proj":         "attn_output",
		"post_attention_layernorm": "ffn_norm",
		"mlp.gate_proj":            "ffn_gate",
		"mlp.up_proj":              "ffn_up",
		"mlp.down_proj":            "ffn_down",
	}
	llamaTop = map[string]string{
		"model.embed_tokens": "token_embd",
		"model.norm":         "output_norm",
		"lm_head":            "output",
	}
	gpt2Layer = map[string]string{
		"ln_1":        "attn_norm",
		"attn.c_attn": "attn_qkv",
		"attn.c_proj": "attn_output",
		"ln_2":        "ffn_norm",
		"mlp.c_fc":    "ffn_up",
		"mlp.c_proj":  "ffn_down",
	}
	gpt2Top = map[string]string{
		"wte":     "token_embd",
		"wpe":     "position_embd",
		"ln_f":    "output_norm",
		"lm_head": "output",
	}
	llamaLayerRE = regexp.MustCompile(`^model\.layers\.(\d+)\.(.+)\.(weight|bias)$`)
	gpt2LayerRE  = regexp.MustCompile(`^h\.(\d+)\.(.+)\.(weight|bias)$`)
	ggufLayerRE  = regexp.MustCompile(`^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$`)
	topRE        = regexp.MustCompile(`^(.+)\.(weight|bias)$`)
)

func tables(arch string) (layer, top map[string]string, re *regexp.Regexp, ok bool) {
	switch arch {
	case ArchLlama, ArchQwen2:
		return llamaLayer, llamaTop, llamaLayerRE, true
	case ArchGPT2:
		return gpt2Layer, gpt2Top, gpt2LayerRE, true
	}
	return nil, nil, nil, false
}

// TensorName maps a Hugging Face checkpoint key (e.g.
// "model.layers.0.self_attn.q_proj.weight", or GPT-2's
// "transformer.h.0.attn.c_attn.weight", with or without "transformer.")
// to llama.cpp's name ("blk.0.attn_q.weight"). It reports false for
// tensors llama.cpp has no use for (GPT-2's attention-mask buffers) and
// unknown names.
func TensorName(arch, key string) (string, bool) {
	layer, top, re, ok := tables(arch)
	if !ok {
		return "", false
	}
	if arch == ArchGPT2 {
		key = strings.TrimPrefix(key, "transformer.")
	}
	if m := re.FindStringSubmatch(key); m != nil {
		if g, ok := layer[m[2]]; ok {
			return "blk." + m[1] + "." + g + "." + m[3], true
		}
		return "", false
	}
	if m := topRE.FindStringSubmatch(key); m != nil {
		if g, ok := top[m[1]]; ok {
			return g + "." + m[2], true
		}
	}
	return "", false
}

// HFName is the inverse of TensorName: the Hugging Face key of a llama.cpp
// tensor name (GPT-2 keys come without "transformer.").
func HFName(arch, name string) (string, bool) {
	layer, top, _, ok := tables(arch)
	if !ok {
		return "", false
	}
	if m := ggufLayerRE.FindStringSubmatch(name); m != nil {
		for hf, g := range layer {
			if g == m[2] {
				if arch == ArchGPT2 {
					return "h." + m[1] + "." + hf + "." + m[3], true
				}
				return "model.layers." + m[1] + "." + hf + "." + m[3], true
			}
		}
		return "", false
	}
	if m := topRE.FindStringSubmatch(name); m != nil {
		for hf, g := range top {
			if g == m[1] {
				return hf + "." + m[2], true
			}
		}
	}
	return "", false
}

// NeedsRoPEPermute reports whether llama.cpp expects the rows of the named
// llama.cpp tensor (attn_q or attn_k weight or bias, or the lora_b of one)
// permuted from Hugging Face's rotate-half order to GGML's interleaved
// order, as convert_hf_to_gguf.py does for the Llama family. It returns the
// head count to permute by: heads for attn_q, kvHeads for attn_k.
func NeedsRoPEPermute(arch, name string, heads, kvHeads int) (int, bool) {
	if arch != ArchLlama {
		return 0, false
	}
	if strings.HasSuffix(name, ".lora_a") {
		return 0, false // A maps the input; its rows are ranks, not heads
	}
	name = strings.TrimSuffix(name, ".lora_b")
	switch {
	case strings.HasSuffix(name, ".attn_q.weight"), strings.HasSuffix(name, ".attn_q.bias"):
		return heads, true
	case strings.HasSuffix(name, ".attn_k.weight"), strings.HasSuffix(name, ".attn_k.bias"):
		return kvHeads, true
	}
	return 0, false
}

// PermuteRoPE reorders the rows of a row-major [rows, cols] matrix (a bias
// is cols 1) from Hugging Face's rotate-half layout to GGML's interleaved
// one, per head of rows/heads rows: out row h·d + 2i + j = in row
// h·d + j·d/2 + i. It is convert_hf_to_gguf.py's permute().
func PermuteRoPE(src []float32, heads, cols int) ([]float32, error) {
	return permute(src, heads, cols, false)
}

// UnpermuteRoPE is the inverse of PermuteRoPE.
func UnpermuteRoPE(src []float32, heads, cols int) ([]float32, error) {
	return permute(src, heads, cols, true)
}

func permute(src []float32, heads, cols int, inverse bool) ([]float32, error) {
	if heads < 1 || cols < 1 || len(src)%cols != 0 {
		return nil, fmt.Errorf("permute: %d values, %d columns, %d heads", len(src), cols, heads)
	}
	rows := len(src) / cols
	if rows%(2*heads) != 0 {
		return nil, fmt.Errorf("permute: %d rows do not split into %d heads of an even size", rows, heads)
	}
	hd := rows / heads
	half := hd / 2
	out := make([]float32, len(src))
	for h := range heads {
		for j := range 2 {
			for i := range half {
				hf := h*hd + j*half + i // rotate-half row
				gg := h*hd + 2*i + j    // interleaved row
				from, to := hf, gg
				if inverse {
					from, to = gg, hf
				}
				copy(out[to*cols:(to+1)*cols], src[from*cols:(from+1)*cols])
			}
		}
	}
	return out, nil
}
