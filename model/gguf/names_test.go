package gguf_test

import (
	"math"
	"reflect"
	"testing"

	"github.com/fynetune/fynetune/model/gguf"
)

func TestTensorNames(t *testing.T) {
	cases := []struct {
		arch, hf, gg string
		back         string // HFName's answer when it differs from hf
	}{
		{"llama", "model.embed_tokens.weight", "token_embd.weight", ""},
		{"llama", "model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight", ""},
		{"llama", "model.layers.3.self_attn.q_proj.weight", "blk.3.attn_q.weight", ""},
		{"llama", "model.layers.3.self_attn.k_proj.weight", "blk.3.attn_k.weight", ""},
		{"llama", "model.layers.3.self_attn.v_proj.weight", "blk.3.attn_v.weight", ""},
		{"llama", "model.layers.12.self_attn.o_proj.weight", "blk.12.attn_output.weight", ""},
		{"llama", "model.layers.1.post_attention_layernorm.weight", "blk.1.ffn_norm.weight", ""},
		{"llama", "model.layers.1.mlp.gate_proj.weight", "blk.1.ffn_gate.weight", ""},
		{"llama", "model.layers.1.mlp.up_proj.weight", "blk.1.ffn_up.weight", ""},
		{"llama", "model.layers.1.mlp.down_proj.weight", "blk.1.ffn_down.weight", ""},
		{"llama", "model.norm.weight", "output_norm.weight", ""},
		{"llama", "lm_head.weight", "output.weight", ""},
		{"qwen2", "model.layers.0.self_attn.q_proj.bias", "blk.0.attn_q.bias", ""},
		{"gpt2", "transformer.wte.weight", "token_embd.weight", "wte.weight"},
		{"gpt2", "wpe.weight", "position_embd.weight", ""},
		{"gpt2", "transformer.h.0.ln_1.weight", "blk.0.attn_norm.weight", "h.0.ln_1.weight"},
		{"gpt2", "h.0.ln_1.bias", "blk.0.attn_norm.bias", ""},
		{"gpt2", "h.1.attn.c_attn.weight", "blk.1.attn_qkv.weight", ""},
		{"gpt2", "h.1.attn.c_attn.bias", "blk.1.attn_qkv.bias", ""},
		{"gpt2", "h.1.attn.c_proj.weight", "blk.1.attn_output.weight", ""},
		{"gpt2", "h.1.ln_2.weight", "blk.1.ffn_norm.weight", ""},
		{"gpt2", "h.1.mlp.c_fc.weight", "blk.1.ffn_up.weight", ""},
		{"gpt2", "h.1.mlp.c_proj.bias", "blk.1.ffn_down.bias", ""},
		{"gpt2", "transformer.ln_f.weight", "output_norm.weight", "ln_f.weight"},
		{"gpt2", "lm_head.weight", "output.weight", ""},
	}
	for _, c := range cases {
		got, ok := gguf.TensorName(c.arch, c.hf)
		if !ok || got != c.gg {
			t.Errorf("TensorName(%s, %s) = %q, %v; want %q", c.arch, c.hf, got, ok, c.gg)
		}
		back := c.back
		if back == "" {
			back = c.hf
		}
		if hf, ok := gguf.HFName(c.arch, c.gg); !ok || hf != back {
			t.Errorf("HFName(%s, %s) = %q, %v; want %q", c.arch, c.gg, hf, ok, back)
		}
	}
	for _, c := range []struct{ arch, name string }{
		{"gpt2", "transformer.h.0.attn.bias"}, {"gpt2", "h.0.attn.masked_bias"}, {"llama", "model.layers.0.self_attn.rotary_emb.inv_freq"},
		{"bert", "model.norm.weight"}, {"llama", "model.layers.x.mlp.up_proj.weight"},
	} {
		if g, ok := gguf.TensorName(c.arch, c.name); ok {
			t.Errorf("TensorName(%s, %s) = %q, want none", c.arch, c.name, g)
		}
	}
	if _, ok := gguf.HFName("llama", "blk.0.attn_qkv.weight"); ok {
		t.Error("HFName(llama, attn_qkv) found a name")
	}
	for mt, want := range map[string]string{"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "gpt2": "gpt2", "phi3": ""} {
		if got := gguf.ArchFor(mt); got != want {
			t.Errorf("ArchFor(%s) = %q, want %q", mt, got, want)
		}
	}
}

func TestNeedsRoPEPermute(t *testing.T) {
	cases := []struct {
		arch, name string
		heads      int
		ok         bool
	}{
		{"llama", "blk.0.attn_q.weight", 8, true},
		{"llama", "blk.0.attn_q.bias", 8, true},
		{"llama", "blk.0.attn_k.weight", 4, true},
		{"llama", "blk.0.attn_k.weight.lora_b", 4, true},
		{"llama", "blk.0.attn_q.weight.lora_a", 0, false},
		{"llama", "blk.0.attn_v.weight", 0, false},
		{"qwen2", "blk.0.attn_q.weight", 0, false},
		{"gpt2", "blk.0.attn_qkv.weight", 0, false},
	}
	for _, c := range cases {
		h, ok := gguf.NeedsRoPEPermute(c.arch, c.name, 8, 4)
		if ok != c.ok || h != c.heads {
			t.Errorf("NeedsRoPEPermute(%s, %s) = %d, %v; want %d, %v", c.arch, c.name, h, ok, c.heads, c.ok)
		}
	}
}

// TestPermuteRoPE checks the permutation against convert_hf_to_gguf.py's
// reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2), worked out by
// hand, and its inverse.
func TestPermuteRoPE(t *testing.T) {
	// 2 heads of 4 rows, 1 column: rows (h, j, i) -> (h, i, j).
	src := []float32{0, 1, 2, 3, 4, 5, 6, 7}
	got, err := gguf.PermuteRoPE(src, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{0, 2, 1, 3, 4, 6, 5, 7}; !reflect.DeepEqual(got, want) {
		t.Errorf("PermuteRoPE = %v, want %v", got, want)
	}
	// 1 head of 8 rows, 2 columns: [0 4 1 5 2 6 3 7] row order.
	src = make([]float32, 16)
	for i := range src {
		src[i] = float32(i)
	}
	got, _ = gguf.PermuteRoPE(src, 1, 2)
	want := []float32{0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PermuteRoPE = %v, want %v", got, want)
	}
	back, _ := gguf.UnpermuteRoPE(got, 1, 2)
	if !reflect.DeepEqual(back, src) {
		t.Errorf("UnpermuteRoPE(PermuteRoPE(x)) = %v", back)
	}
	for _, c := range []struct{ n, heads, cols int }{{7, 1, 1}, {12, 4, 1}, {8, 0, 1}, {8, 1, 3}} {
		if _, err := gguf.PermuteRoPE(make([]float32, c.n), c.heads, c.cols); err == nil {
			t.Errorf("PermuteRoPE(%d values, %d heads, %d cols): no error", c.n, c.heads, c.cols)
		}
	}
}

// TestPermuteMatchesRoPE checks the direction of the permutation where it
// matters: GGML's interleaved RoPE (pairs 2i, 2i+1) applied to permuted
// projections equals the permuted result of Hugging Face's rotate-half
// RoPE (pairs i, i+d/2).
func TestPermuteMatchesRoPE(t *testing.T) {
	const heads, hd, pos = 2, 8, 5
	theta := 10000.0
	x := randValues(heads*hd, 3)
	rot := func(a, b float32, i int) (float32, float32) {
		ang := float64(pos) * math.Pow(theta, -2*float64(i)/hd)
		s, c := math.Sincos(ang)
		return float32(float64(a)*c - float64(b)*s), float32(float64(a)*s + float64(b)*c)
	}
	hf := append([]float32(nil), x...)
	for h := range heads {
		for i := range hd / 2 {
			p, q := h*hd+i, h*hd+i+hd/2
			hf[p], hf[q] = rot(hf[p], hf[q], i)
		}
	}
	gg, _ := gguf.PermuteRoPE(x, heads, 1)
	for h := range heads {
		for i := range hd / 2 {
			p, q := h*hd+2*i, h*hd+2*i+1
			gg[p], gg[q] = rot(gg[p], gg[q], i)
		}
	}
	want, _ := gguf.PermuteRoPE(hf, heads, 1)
	for i := range want {
		if math.Abs(float64(want[i]-gg[i])) > 1e-6 {
			t.Fatalf("row %d: interleaved RoPE of the permuted vector %g, permuted rotate-half RoPE %g", i, gg[i], want[i])
		}
	}
}

func TestTypes(t *testing.T) {
	for _, c := range []struct {
		s    string
		t    gguf.Type
		size int64 // bytes of 64 values
	}{{"f32", gguf.F32, 256}, {"F16", gguf.F16, 128}, {"bf16", gguf.BF16, 128}, {"q8_0", gguf.Q8_0, 68}, {"Q4_0", gguf.Q4_0, 36}} {
		got, ok := gguf.ParseType(c.s)
		if !ok || got != c.t {
			t.Errorf("ParseType(%s) = %v, %v", c.s, got, ok)
		}
		if n, ok := c.t.RowBytes(64); !ok || n != c.size {
			t.Errorf("%s.RowBytes(64) = %d, %v; want %d", c.t, n, ok, c.size)
		}
	}
	if _, ok := gguf.ParseType("q5_k_m"); ok {
		t.Error("ParseType(q5_k_m) succeeded")
	}
	if gguf.Q4_K.Writable() || !gguf.Q4_K.Known() || gguf.Type(99).Known() || gguf.Type(99).String() != "Type(99)" {
		t.Error("Q4_K / Type(99) traits wrong")
	}
	if gguf.FileTypeOf(gguf.Q8_0) != gguf.FileTypeMostlyQ8_0 || gguf.FileTypeOf(gguf.F32) != gguf.FileTypeAllF32 {
		t.Error("FileTypeOf")
	}
}
