package model_test

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/fynetune/fynetune/compute"
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

// writeRandomLlama writes a random Llama-layout f32 checkpoint (hidden dim,
// 4 layers) with the stories260K tokenizer into a temporary folder and
// returns the folder and the size of model.safetensors.
func writeRandomLlama(t *testing.T, dim int) (string, int64) {
	src := fixtureDir(t)
	dir := t.TempDir()
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, _ := os.ReadFile(filepath.Join(src, f))
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	cfg := fmt.Sprintf(`{"model_type":"llama","vocab_size":512,"hidden_size":%d,"intermediate_size":%d,"num_hidden_layers":4,
	"num_attention_heads":8,"num_key_value_heads":8,"max_position_embeddings":256,"rms_norm_eps":1e-5,"tie_word_embeddings":true}`, dim, dim*11/4)
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
	ts = append(ts, safetensors.F32Tensor("model.embed_tokens.weight", []int{c.Vocab, c.Dim}, r.Embed.Values()))
	ts = append(ts, safetensors.F32Tensor("model.norm.weight", []int{c.Dim}, r.NormW.Data))
	for i, blk := range r.Blocks {
		p := "model.layers." + strconv.Itoa(i) + "."
		ts = append(ts, safetensors.F32Tensor(p+"input_layernorm.weight", []int{c.Dim}, blk.Norm1W.Data),
			safetensors.F32Tensor(p+"post_attention_layernorm.weight", []int{c.Dim}, blk.Norm2W.Data))
		for _, l := range []*model.Linear{blk.Q, blk.K, blk.V, blk.O, blk.Gate, blk.Up, blk.Down} {
			ts = append(ts, safetensors.F32Tensor(l.Path+".weight", []int{l.W.Out, l.W.In}, l.W.Values()))
		}
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(dir, "model.safetensors"))
	return dir, st.Size()
}

// TestLoadHoldsWeightsOnce: loading an f32 checkpoint onto the CPU packs
// each weight into the matrix kernels' layout and releases the mapped pages
// it was read from, so the weights are held once: the heap grows by the
// packed copies (about the file's size) and the resident memory by no more.
func TestLoadHoldsWeightsOnce(t *testing.T) {
	dir, size := writeRandomLlama(t, 512)
	var before, after runtime.MemStats
	runtime.GC()
	debug.FreeOSMemory()
	runtime.ReadMemStats(&before)
	rssBefore := rss(t, "VmRSS")
	m, err := model.Load(dir, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	resident := rss(t, "VmRSS") - rssBefore
	t.Logf("file %d bytes, heap growth %d bytes, resident growth %d bytes", size, growth, resident)
	if limit := size * 11 / 10; growth > limit || resident > limit {
		t.Fatalf("loading a %d-byte f32 checkpoint grew the heap by %d and the resident memory by %d bytes: the weights are held twice (limit %d)", size, growth, resident, limit)
	}
	for _, w := range append([]*compute.Weight{m.Embed}, linearWeights(m)...) {
		if w.Dev == nil {
			t.Fatalf("%s was not prepared (packed) at load", w.Name)
		}
	}
	runtime.KeepAlive(m)
	m.Close()
}

// TestLoad4BitPeakMemory: loading at 4 bits quantizes tensor by tensor from
// the mapping and releases each one's pages, so the peak resident memory
// of the load stays under 1.5 × (quantized size + largest tensor). Linux
// only: it resets the peak (VmHWM) through /proc/self/clear_refs.
func TestLoad4BitPeakMemory(t *testing.T) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skip("cannot reset the peak RSS here:", err)
	}
	dir, size := writeRandomLlama(t, 1024)
	runtime.GC()
	debug.FreeOSMemory()
	base := rss(t, "VmRSS")
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	m, err := model.LoadWith(dir, cpu.New(), model.LoadOptions{Bits: 4})
	if err != nil {
		t.Fatal(err)
	}
	peak := rss(t, "VmHWM") - base
	var quantized, largest int64
	for _, w := range append([]*compute.Weight{m.Embed}, linearWeights(m)...) {
		quantized += int64(len(w.Raw))
		largest = max(largest, int64(w.Out*w.In*4))
	}
	limit := (quantized + largest) * 3 / 2
	t.Logf("f32 file %d MB, quantized %d MB, largest tensor %d MB, load peak %d MB (limit %d MB)",
		size>>20, quantized>>20, largest>>20, peak>>20, limit>>20)
	if peak > limit {
		t.Fatalf("loading at 4 bits peaked at %d bytes over the baseline; limit %d", peak, limit)
	}
	m.Close()
}

func linearWeights(m *model.Model) []*compute.Weight {
	var ws []*compute.Weight
	for _, l := range m.Linears() {
		ws = append(ws, l.W)
	}
	return ws
}

// rss reads a /proc/self/status field in bytes.
func rss(t *testing.T, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			var kb int64
			fmt.Sscan(strings.TrimPrefix(line, field+":"), &kb)
			return kb << 10
		}
	}
	t.Skip("no " + field)
	return 0
}
