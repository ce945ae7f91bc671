package model_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/internal/testenv"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/model/safetensors"
)

func fixtureDir(t testing.TB) string { return testenv.Fixture(t, "models", "stories260K") }

// TestLoadHeapGrowth: loading an f32 checkpoint maps it instead of copying
// it onto the heap: heap growth stays within 10% of the file size. The
// model is a random 4-layer Llama written to a temporary folder (about 20 MB).
func TestLoadHeapGrowth(t *testing.T) {
	src := fixtureDir(t)
	dir := t.TempDir()
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, _ := os.ReadFile(filepath.Join(src, f))
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	cfg := `{"model_type":"llama","vocab_size":512,"hidden_size":512,"intermediate_size":1408,"num_hidden_layers":4,
	"num_attention_heads":8,"num_key_value_heads":8,"max_position_embeddings":256,"rms_norm_eps":1e-5,"tie_word_embeddings":true}`
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644)
	c, err := model.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := model.NewRandom(c, cpu.New(), 3)
	if err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	ts = append(ts, safetensors.F32Tensor("model.embed_tokens.weight", []int{c.Vocab, c.Dim}, r.Embed.F32))
	ts = append(ts, safetensors.F32Tensor("model.norm.weight", []int{c.Dim}, r.NormW.Data))
	for i, blk := range r.Blocks {
		p := "model.layers." + strconv.Itoa(i) + "."
		ts = append(ts, safetensors.F32Tensor(p+"input_layernorm.weight", []int{c.Dim}, blk.Norm1W.Data),
			safetensors.F32Tensor(p+"post_attention_layernorm.weight", []int{c.Dim}, blk.Norm2W.Data))
		for _, l := range []*model.Linear{blk.Q, blk.K, blk.V, blk.O, blk.Gate, blk.Up, blk.Down} {
			ts = append(ts, safetensors.F32Tensor(l.Path+".weight", []int{l.W.Out, l.W.In}, l.W.F32))
		}
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(dir, "model.safetensors"))
	r, ts = nil, nil
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := model.Load(dir, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if growth > st.Size()/10 {
		t.Fatalf("loading a %d-byte f32 checkpoint grew the heap by %d bytes (> 10%%)", st.Size(), growth)
	}
	t.Logf("file %d bytes, heap growth %d bytes", st.Size(), growth)
	runtime.KeepAlive(m)
	m.Close()
}

