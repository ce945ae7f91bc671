package model_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/internal/testenv"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/model/safetensors"
)

func loadFixture(t testing.TB, name string) *model.Model {
	t.Helper()
	m, err := model.Load(testenv.Fixture(t, "models", name), cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// maxAbsDiff returns max |a-b| and where it occurs.
func maxAbsDiff(a, b []float32) (float64, int) {
	worst, at := 0.0, -1
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if d > worst || math.IsNaN(d) {
			worst, at = d, i
			if math.IsNaN(d) {
				return math.Inf(1), i
			}
		}
	}
	return worst, at
}

// TestForwardGolden checks every hidden state and the logits against PyTorch.
func TestForwardGolden(t *testing.T) {
	for _, name := range []string{"stories260K", "gpt2-tiny-random"} {
		t.Run(name, func(t *testing.T) {
			m := loadFixture(t, name)
			g, err := safetensors.Open(testenv.Golden(t, name, "forward.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			info, _ := g.Info("input_ids")
			B, T := info.Shape[0], info.Shape[1]
			ids, err := g.Int32("input_ids")
			if err != nil {
				t.Fatal(err)
			}
			a := m.NewActs(B, T, true)
			m.Forward(a, ids, nil)
			check := func(key string, got *compute.Tensor) {
				want, err := g.Float32(key)
				if err != nil {
					t.Fatal(err)
				}
				host := make([]float32, got.Len())
				m.Be.Download(host, got)
				if len(host) != len(want) {
					t.Fatalf("%s: %d values, golden has %d", key, len(host), len(want))
				}
				if d, at := maxAbsDiff(host, want); d > 1e-4 {
					t.Errorf("%s: max |Δ| = %.3g at %d (got %v, want %v)", key, d, at, host[at], want[at])
				}
			}
			L := m.Config.Layers
			for l := 0; l < L; l++ {
				check(fmt.Sprintf("hidden.%d", l), a.X[l])
			}
			check(fmt.Sprintf("hidden.%d", L), a.Final)
			logits := m.Be.NewTensor(B*T, m.Config.Vocab)
			m.Logits(logits, a.Final)
			check("logits", logits)
		})
	}
}

// TestKVCacheMatchesFullForward: decoding token by token with the cache gives
// the logits of one full forward pass.
func TestKVCacheMatchesFullForward(t *testing.T) {
	for _, name := range []string{"stories260K", "gpt2-tiny-random"} {
		t.Run(name, func(t *testing.T) {
			m := loadFixture(t, name)
			ids := []int32{1, 403, 407, 261, 378, 432, 383, 286, 261, 376}
			T, V := len(ids), m.Config.Vocab
			full := m.NewActs(1, T, false)
			m.Forward(full, ids, nil)
			want := m.Be.NewTensor(T, V)
			m.Logits(want, full.Final)

			cache := m.NewKVCache(T)
			pre := m.NewActs(1, 4, false)
			m.Forward(pre, ids[:4], cache)
			got := m.Be.NewTensor(1, V)
			m.Logits(got, pre.Final.RowView(3, 1))
			if d, _ := maxAbsDiff(got.Data, want.RowView(3, 1).Data); d > 1e-4 {
				t.Fatalf("prefill logits differ by %g", d)
			}
			one := m.NewActs(1, 1, false)
			for i := 4; i < T; i++ {
				m.Forward(one, ids[i:i+1], cache)
				m.Logits(got, one.Final)
				if d, _ := maxAbsDiff(got.Data, want.RowView(i, 1).Data); d > 1e-4 {
					t.Fatalf("position %d: cached logits differ by %g", i, d)
				}
			}
		})
	}
}

// TestGenerateStories260K reproduces the continuation documented by the
// model's authors.
func TestGenerateStories260K(t *testing.T) {
	m := loadFixture(t, "stories260K")
	ids := m.Tok.EncodeWithSpecial("Once upon a time")
	out, err := m.Generate(context.Background(), ids, model.SampleOptions{MaxTokens: 40, StopAtEOS: true}, func(int) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	var all []int
	for _, id := range append(ids, out...) {
		if !m.Tok.IsSpecial(id) {
			all = append(all, id)
		}
	}
	text := m.Tok.Decode(all)
	want := "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
	if !strings.HasPrefix(text, want) {
		t.Fatalf("greedy continuation:\n got %q\nwant prefix %q", text, want)
	}
}

// TestGenerateStopsAtLimits: MaxTokens new tokens, no more; and a prompt
// that fills the context but one position gets two: one predicted from the
// prompt's last position and one from the context's last.
func TestGenerateStopsAtLimits(t *testing.T) {
	m := loadFixture(t, "stories260K")
	gen := func(prompt []int, maxTokens int) []int {
		t.Helper()
		out, err := m.Generate(context.Background(), prompt, model.SampleOptions{MaxTokens: maxTokens}, func(int) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ids := m.Tok.EncodeWithSpecial("Once upon a time")
	for _, n := range []int{1, 5} {
		if out := gen(ids, n); len(out) != n {
			t.Errorf("MaxTokens %d: generated %d tokens", n, len(out))
		}
	}
	full := make([]int, m.Config.MaxPos-1)
	for i := range full {
		full[i] = ids[i%len(ids)]
	}
	if out := gen(full, 0); len(out) != 2 {
		t.Errorf("a prompt of %d tokens in a context of %d: generated %d tokens, want 2", len(full), m.Config.MaxPos, len(out))
	}
}

func TestSamplingIsSeededAndRespectsTopK(t *testing.T) {
	m := loadFixture(t, "stories260K")
	ids := m.Tok.EncodeWithSpecial("Once upon a time")
	gen := func(seed uint64, k int) []int {
		out, err := m.Generate(context.Background(), ids, model.SampleOptions{MaxTokens: 20, Temperature: 1, TopK: k, Seed: seed}, func(int) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := gen(7, 0), gen(7, 0)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("same seed, different samples: %v vs %v", a, b)
	}
	// top-k 1 is greedy
	greedy, err := m.Generate(context.Background(), ids, model.SampleOptions{MaxTokens: 20}, func(int) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if got := gen(3, 1); fmt.Sprint(got) != fmt.Sprint(greedy) {
		t.Fatalf("top-k 1 %v differs from greedy %v", got, greedy)
	}
}

// TestLoadErrors: bad model folders give errors that name the problem.
func TestLoadErrors(t *testing.T) {
	src := testenv.Fixture(t, "models", "stories260K")
	copyDir := func(t *testing.T, edit func(dir string)) string {
		dir := t.TempDir()
		for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
			data, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		edit(dir)
		return dir
	}
	setConfig := func(old, new string) func(string) {
		return func(dir string) {
			p := filepath.Join(dir, "config.json")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644)
		}
	}
	cases := []struct {
		name string
		edit func(string)
		want []string
	}{
		{"unsupported model_type", setConfig(`"model_type": "llama"`, `"model_type": "mamba"`), []string{"config.json", `"mamba"`, "gpt2, llama, mistral, qwen2"}},
		{"wrong shape", setConfig(`"intermediate_size": 172`, `"intermediate_size": 170`), []string{"model.layers.0.mlp.gate_proj.weight", "shape [172 64], want [170 64]"}},
		{"missing tensor", setConfig(`"num_hidden_layers": 5`, `"num_hidden_layers": 6`), []string{`"model.layers.5.input_layernorm.weight" is missing`}},
		{"no config", func(d string) { os.Remove(filepath.Join(d, "config.json")) }, []string{"config.json"}},
		{"bad config json", func(d string) { os.WriteFile(filepath.Join(d, "config.json"), []byte("{"), 0o644) }, []string{"config.json", "invalid JSON"}},
		{"gguf folder", func(d string) {
			os.Remove(filepath.Join(d, "config.json"))
			os.WriteFile(filepath.Join(d, "model.gguf"), []byte("GGUF"), 0o644)
		}, []string{"GGUF", "model.gguf"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := model.Load(copyDir(t, c.edit), cpu.New())
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestForwardQwen2Quirks: q/k/v biases, an explicit head_dim (12, not
// hidden/heads = 8), GQA, an untied head and rope_theta 1000 against
// PyTorch (model/testdata/make_qwen2_tiny.py wrote the model and golden).
func TestForwardQwen2Quirks(t *testing.T) {
	m, err := model.Load(filepath.Join("testdata", "qwen2-tiny"), cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Config.HeadDim != 12 || m.Head == m.Embed || m.Blocks[0].Q.Bias == nil {
		t.Fatalf("quirks not picked up: head_dim %d, tied %v, q bias %v", m.Config.HeadDim, m.Head == m.Embed, m.Blocks[0].Q.Bias != nil)
	}
	g, err := safetensors.Open(filepath.Join("testdata", "qwen2-tiny", "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ids, _ := g.Int32("input_ids")
	a := m.NewActs(2, 16, true)
	m.Forward(a, ids, nil)
	logits := m.Be.NewTensor(32, m.Config.Vocab)
	m.Logits(logits, a.Final)
	for key, got := range map[string]*compute.Tensor{"hidden.1": a.X[1], "hidden.2": a.Final, "logits": logits} {
		want, err := g.Float32(key)
		if err != nil {
			t.Fatal(err)
		}
		if d, at := maxAbsDiff(got.Data, want); d > 1e-4 {
			t.Errorf("%s: max |Δ| %.3g at %d", key, d, at)
		}
	}
	if got := m.Tok.Decode(m.Tok.Encode("Hello, world!")); got != "Hello, world!" {
		t.Errorf("byte-level round trip: %q", got)
	}
}
