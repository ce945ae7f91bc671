package model_test

import (
	"strings"
	"testing"

	"github.com/fynetune/fynetune/model"
)

// TestParseConfigQuirks: each supported family's config.json keys and
// defaults land in the normalised Config.
func TestParseConfigQuirks(t *testing.T) {
	cases := []struct {
		name, json string
		check      func(*model.Config) string
	}{
		{"gpt2 defaults", `{"model_type":"gpt2","vocab_size":50257,"n_embd":768,"n_layer":12,"n_head":12,"n_positions":1024}`,
			func(c *model.Config) string {
				if c.Arch != model.ArchGPT2 || c.FFN != 3072 || c.HeadDim != 64 || !c.TiedHead || c.NormEps != 1e-5 || c.KVHeads != 12 {
					return "defaults"
				}
				return ""
			}},
		{"gpt2 n_inner", `{"model_type":"gpt2","vocab_size":10,"n_embd":8,"n_layer":1,"n_head":2,"n_ctx":16,"n_inner":20}`,
			func(c *model.Config) string {
				if c.FFN != 20 || c.MaxPos != 16 {
					return "n_inner/n_ctx"
				}
				return ""
			}},
		{"llama GQA", `{"model_type":"llama","vocab_size":32000,"hidden_size":2048,"intermediate_size":5632,"num_hidden_layers":22,
			"num_attention_heads":32,"num_key_value_heads":4,"max_position_embeddings":2048,"rms_norm_eps":1e-5,"rope_theta":10000.0,
			"bos_token_id":1,"eos_token_id":2}`,
			func(c *model.Config) string {
				if c.KVHeads != 4 || c.HeadDim != 64 || c.TiedHead || c.QKVBias || c.BOS != 1 || c.EOS[0] != 2 {
					return "GQA/head_dim/tie/bias/bos/eos"
				}
				return ""
			}},
		{"mistral", `{"model_type":"mistral","vocab_size":32000,"hidden_size":4096,"intermediate_size":14336,"num_hidden_layers":32,
			"num_attention_heads":32,"num_key_value_heads":8,"max_position_embeddings":32768,"rope_theta":1000000.0}`,
			func(c *model.Config) string {
				if c.Arch != model.ArchLlama || c.RopeTheta != 1e6 || c.NormEps != 1e-6 {
					return "rope_theta/eps default"
				}
				return ""
			}},
		{"qwen2 biases, tied, eos list", `{"model_type":"qwen2","vocab_size":151936,"hidden_size":896,"intermediate_size":4864,
			"num_hidden_layers":24,"num_attention_heads":14,"num_key_value_heads":2,"max_position_embeddings":32768,
			"tie_word_embeddings":true,"eos_token_id":[151645,151643]}`,
			func(c *model.Config) string {
				if !c.QKVBias || c.OBias || !c.TiedHead || len(c.EOS) != 2 || c.HeadDim != 64 {
					return "qkv bias/tie/eos list"
				}
				return ""
			}},
		{"explicit head_dim", `{"model_type":"llama","vocab_size":100,"hidden_size":64,"intermediate_size":128,"num_hidden_layers":1,
			"num_attention_heads":4,"head_dim":32,"max_position_embeddings":64}`,
			func(c *model.Config) string {
				if c.HeadDim != 32 {
					return "head_dim"
				}
				return ""
			}},
	}
	for _, c := range cases {
		cfg, err := model.ParseConfig([]byte(c.json))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if what := c.check(cfg); what != "" {
			t.Errorf("%s: wrong %s: %+v", c.name, what, cfg)
		}
	}
}

// TestParseConfigErrors: each defect is named.
func TestParseConfigErrors(t *testing.T) {
	cases := []struct{ json, want string }{
		{`{`, "invalid JSON"},
		{`{"vocab_size":3}`, "no model_type; supported model types: gpt2, llama, mistral, qwen2"},
		{`{"model_type":"bert"}`, `unsupported model_type "bert"`},
		{`{"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":4,"num_key_value_heads":3,"max_position_embeddings":8}`, "not a multiple of 3 key/value heads"},
		{`{"model_type":"llama","vocab_size":10,"hidden_size":0,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":4,"max_position_embeddings":8}`, "hidden size is 0"},
		{`{"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":4,"max_position_embeddings":8,"hidden_act":"gelu"}`, `hidden_act "gelu" not supported`},
		{`{"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":4,"max_position_embeddings":8,"rope_scaling":{"rope_type":"yarn","factor":4}}`, `rope_scaling type "yarn"`},
		{`{"model_type":"gpt2","vocab_size":10,"n_embd":9,"n_layer":1,"n_head":2,"n_positions":8}`, "not divisible"},
		{`{"model_type":"gpt2","vocab_size":10,"n_embd":8,"n_layer":1,"n_head":2,"n_positions":8,"eos_token_id":"x"}`, "eos_token_id"},
	}
	for _, c := range cases {
		_, err := model.ParseConfig([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", c.json, err, c.want)
		}
	}
}
