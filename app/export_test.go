package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"

	parser "github.com/gpustack/gguf-parser-go"

	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/internal/testenv"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/model/gguf"
	"github.com/fynetune/fynetune/model/safetensors"
	"github.com/fynetune/fynetune/train"
)

// golden is a fixture model with the adapter PyTorch trained in a golden
// trace, and the logits PyTorch got with it.
type golden struct {
	m      *model.Model
	set    *train.Adapters
	rows   [][]int32 // forward.safetensors input_ids
	logits []float32 // final_logits
	values map[string][]float32
}

func loadGolden(t *testing.T, name string) *golden {
	t.Helper()
	raw, err := os.ReadFile(testenv.Golden(t, name, "trace_adamw.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		Lora struct {
			R       int      `json:"r"`
			Alpha   float64  `json:"alpha"`
			Targets []string `json:"target_modules"`
		} `json:"lora"`
	}
	if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	gf, err := safetensors.Open(testenv.Golden(t, name, "trace_adamw.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer gf.Close()
	m, err := model.Load(testenv.Fixture(t, "models", name), cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	set, err := train.Attach(m, train.LoraConfig{Targets: tr.Lora.Targets, Rank: tr.Lora.R, Alpha: tr.Lora.Alpha}, 0)
	if err != nil {
		t.Fatal(err)
	}
	g := &golden{m: m, set: set, values: map[string][]float32{}}
	for _, p := range set.Params() {
		v, err := gf.Float32("final." + p.Name)
		if err != nil {
			t.Fatal(err)
		}
		g.values[p.Name] = append([]float32(nil), v...)
		m.Be.Upload(p.Value, v)
	}
	if g.logits, err = gf.Float32("final_logits"); err != nil {
		t.Fatal(err)
	}
	g.logits = append([]float32(nil), g.logits...)
	fw, err := safetensors.Open(testenv.Golden(t, name, "forward.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	info, _ := fw.Info("input_ids")
	ids, err := fw.Int32("input_ids")
	if err != nil {
		t.Fatal(err)
	}
	for b := range info.Shape[0] {
		g.rows = append(g.rows, append([]int32(nil), ids[b*info.Shape[1]:(b+1)*info.Shape[1]]...))
	}
	return g
}

var goldenModels = []string{"stories260K", "gpt2-tiny-random"}

// TestMergedMatchesGolden: the merged f32 model, loaded back from disk,
// gives PyTorch's logits of base + trained adapter (final_logits).
func TestMergedMatchesGolden(t *testing.T) {
	for _, name := range goldenModels {
		t.Run(name, func(t *testing.T) {
			g := loadGolden(t, name)
			out := filepath.Join(t.TempDir(), "merged")
			rep, err := Export(context.Background(), g.m, g.set, ExportOptions{Format: ExportMerged, Out: out, SampleIDs: g.rows})
			if err != nil {
				t.Fatal(err)
			}
			if rep.DType != "f32" || rep.Verify == nil || !rep.Verify.Passed || rep.Verify.MaxAbsLogitDiff > TolF32 {
				t.Errorf("report: dtype %q, verification %+v", rep.DType, rep.Verify)
			}
			mm, err := model.Load(out, cpu.New())
			if err != nil {
				t.Fatal(err)
			}
			defer mm.Close()
			for _, l := range mm.Linears() {
				if l.Adapter != nil {
					t.Fatalf("merged model has an adapter on %s", l.Path)
				}
			}
			got := logitsOf(mm, g.rows)
			if d := maxAbsDiff(got, g.logits); d > 1e-4 {
				t.Errorf("merged logits differ from PyTorch's final_logits by %.3g", d)
			}
		})
	}
}

// TestExportRoundTrip exports the golden adapter in every format and reads
// each export back: with the export's own verification, with the loaders
// of each format, and GGUF also with gguf-parser-go.
func TestExportRoundTrip(t *testing.T) {
	cases := []struct {
		format, dtype, quant string
		tol                  float64 // max |Δlogit| against final_logits
	}{
		{ExportPEFT, "", "", 1e-4},
		{ExportMerged, "f16", "", 0.05},
		{ExportGGUF, "", "f32", 1e-4},
		{ExportGGUF, "", "q8_0", 0}, // within the report's tolerance
		{ExportGGUFAdapter, "", "f32", 1e-4},
	}
	for _, name := range goldenModels {
		g := loadGolden(t, name)
		for _, c := range cases {
			t.Run(name+"/"+c.format+c.dtype+c.quant, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				rep, err := Export(context.Background(), g.m, g.set, ExportOptions{Format: c.format, DType: c.dtype, Quant: c.quant, Out: out, SampleIDs: g.rows})
				if err != nil {
					t.Fatal(err)
				}
				v := rep.Verify
				if v == nil || !v.Passed || v.Samples != len(g.rows) {
					t.Fatalf("verification %+v", v)
				}
				if c.tol > 0 && v.MaxAbsLogitDiff > c.tol {
					t.Errorf("max |Δlogit| %.3g > %g", v.MaxAbsLogitDiff, c.tol)
				}
				if len(rep.Warnings) > 0 {
					t.Errorf("warnings for a trained adapter: %v", rep.Warnings)
				}
				for _, f := range rep.Files {
					if st, err := os.Stat(filepath.Join(out, f.Name)); err != nil || st.Size() != f.Bytes {
						t.Errorf("reported file %s (%d bytes): %v", f.Name, f.Bytes, err)
					}
				}
				checkNoLeftovers(t, filepath.Dir(out), "out")
				switch c.format {
				case ExportPEFT:
					checkPEFT(t, g, out)
				case ExportMerged:
					checkMerged(t, g, out, c.dtype)
				case ExportGGUF:
					checkGGUF(t, g, filepath.Join(out, "model-"+c.quant+".gguf"))
				case ExportGGUFAdapter:
					checkGGUFAdapter(t, g, filepath.Join(out, "adapter-"+c.quant+".gguf"))
				}
			})
		}
	}
}

// checkPEFT: the adapter read back by our importer is the adapter, bit for
// bit, and gives PyTorch's logits.
func checkPEFT(t *testing.T, g *golden, out string) {
	cfg, err := readPeftConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	gpt2 := g.m.Config.Arch == model.ArchGPT2
	if cfg.PeftType != "LORA" || cfg.TaskType != "CAUSAL_LM" || cfg.R != 4 || cfg.LoraAlpha != 8 || cfg.Bias != "none" || cfg.FanInFanOut != gpt2 || len(cfg.TargetModules) == 0 {
		t.Errorf("adapter_config.json: %+v", cfg)
	}
	m, err := model.Load(g.m.Dir, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	set, err := train.LoadAdapter(out, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Mods) != len(g.set.Mods) {
		t.Fatalf("%d modules read back, want %d", len(set.Mods), len(g.set.Mods))
	}
	for _, p := range set.Params() {
		want, ok := g.values[p.Name]
		if !ok || !reflect.DeepEqual(p.Value.Data, want) {
			t.Errorf("%s read back differs", p.Name)
		}
	}
	if d := maxAbsDiff(logitsOf(m, g.rows), g.logits); d > 1e-4 {
		t.Errorf("logits with the adapter read back differ from final_logits by %.3g", d)
	}
}

func checkMerged(t *testing.T, g *golden, out, dtype string) {
	src, err := safetensors.OpenModel(g.m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ck, err := safetensors.OpenModel(out)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	a, b := src.Names(), ck.Names()
	slices.Sort(a)
	slices.Sort(b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("merged tensors %v, want %v", b, a)
	}
	want := dtypeByName[dtype]
	for _, n := range b {
		if info, _ := ck.Info(n); info.DType != want {
			t.Errorf("%s is %s, want %s", n, info.DType, want)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(out, "config.json"))
	var cfg map[string]any
	if json.Unmarshal(raw, &cfg) != nil || cfg["torch_dtype"] != torchNames[want] || cfg["model_type"] != g.m.Config.ModelType {
		t.Errorf("config.json: %s", raw)
	}
}

// checkGGUF reads a GGUF model export with gguf-parser-go and our reader.
func checkGGUF(t *testing.T, g *golden, path string) {
	c := g.m.Config
	arch := gguf.ArchFor(c.ModelType)
	pf, err := parser.ParseGGUFFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := pf.Architecture()
	if a.Architecture != arch || a.BlockCount != uint64(c.Layers) || a.EmbeddingLength != uint64(c.Dim) ||
		a.AttentionHeadCount != uint64(c.Heads) || a.MaximumContextLength != uint64(c.MaxPos) || a.FeedForwardLength[0] != uint64(c.FFN) {
		t.Errorf("gguf-parser-go architecture: %+v", a)
	}
	tk := pf.Tokenizer()
	wantModel := map[model.Arch]string{model.ArchGPT2: "gpt2", model.ArchLlama: "llama"}[c.Arch]
	if tk.Model != wantModel || tk.TokensLength != uint64(c.Vocab) || tk.BOSTokenID != int64(g.m.Tok.BOS()) || tk.EOSTokenID != int64(g.m.Tok.EOS()) {
		t.Errorf("gguf-parser-go tokenizer: %+v", tk)
	}
	if wantModel == "gpt2" && tk.MergesLength != uint64(len(g.m.Tok.Merges())) {
		t.Errorf("gguf-parser-go: %d merges, want %d", tk.MergesLength, len(g.m.Tok.Merges()))
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(pf.TensorInfos) != len(f.Tensors) || pf.TensorDataStartOffset != f.DataOffset {
		t.Fatalf("gguf-parser-go: %d tensors at %d; ours %d at %d", len(pf.TensorInfos), pf.TensorDataStartOffset, len(f.Tensors), f.DataOffset)
	}
	for i, pi := range pf.TensorInfos {
		ti := f.Tensors[i]
		if pi.Name != ti.Name || pi.Offset != ti.Offset || uint32(pi.Type) != uint32(ti.Type) || !reflect.DeepEqual(pi.Dimensions, ti.Dims) {
			t.Errorf("tensor %d: parser %s %v, ours %s %v", i, pi.Name, pi.Dimensions, ti.Name, ti.Dims)
		}
	}
	if addBOS, ok := f.GetBool("tokenizer.ggml.add_bos_token"); !ok || addBOS != (arch == gguf.ArchLlama) {
		t.Errorf("add_bos_token %v (%v)", addBOS, ok)
	}
	if name, _ := f.GetString("general.name"); name != filepath.Base(g.m.Dir) {
		t.Errorf("general.name %q", name)
	}
	if arch == gguf.ArchGPT2 {
		tv, _ := f.Get("tokenizer.ggml.token_type")
		if types := tv.([]int32); types[50256] != tokControl || types[0] != tokNormal {
			t.Errorf("token types: <|endoftext|> %d, %q %d", types[50256], g.m.Tok.TokenString(0), types[0])
		}
	}
	if arch == gguf.ArchLlama {
		// SentencePiece: scores follow the merge order, byte and control
		// tokens are typed as llama.cpp expects.
		sv, _ := f.Get("tokenizer.ggml.scores")
		tv, _ := f.Get("tokenizer.ggml.token_type")
		scores, types := sv.([]float32), tv.([]int32)
		seen, last := map[int]bool{}, float32(1)
		for _, mg := range g.m.Tok.Merges() {
			id, ok := g.m.Tok.TokenID(mg[0] + mg[1])
			if !ok || seen[id] {
				continue
			}
			seen[id] = true
			if scores[id] >= last {
				t.Fatalf("token %q (merge %v) scores %g, not below the previous merge's %g", mg[0]+mg[1], mg, scores[id], last)
			}
			last = scores[id]
		}
		byteID, _ := g.m.Tok.TokenID("<0x0A>")
		normal, _ := g.m.Tok.TokenID("▁t")
		if types[byteID] != tokByte || types[g.m.Tok.BOS()] != tokControl || types[g.m.Tok.EOS()] != tokControl || types[g.m.Tok.UNK()] != tokUnknown || types[normal] != tokNormal {
			t.Errorf("token types: <0x0A> %d, BOS %d, EOS %d, UNK %d, ▁t %d", types[byteID], types[g.m.Tok.BOS()], types[g.m.Tok.EOS()], types[g.m.Tok.UNK()], types[normal])
		}
	}
	toks, _ := f.GetStrings("tokenizer.ggml.tokens")
	if !reflect.DeepEqual(toks, g.m.Tok.Vocab()) {
		t.Error("tokenizer.ggml.tokens differ from the tokenizer's vocabulary")
	}
	names := map[string]bool{}
	for _, ti := range f.Tensors {
		names[ti.Name] = true
		if len(ti.Dims) == 1 && ti.Type != gguf.F32 {
			t.Errorf("%s is %s, 1-D tensors must be F32", ti.Name, ti.Type)
		}
	}
	want := []string{"token_embd.weight", "output_norm.weight", "blk.0.attn_norm.weight", "blk.0.ffn_down.weight", "blk.0.ffn_up.weight", "blk.0.attn_output.weight"}
	if arch == gguf.ArchGPT2 {
		want = append(want, "position_embd.weight", "blk.0.attn_qkv.weight", "blk.0.attn_qkv.bias", "blk.0.attn_norm.bias", "output.weight")
	} else {
		want = append(want, "blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight", "blk.0.ffn_gate.weight", "blk.0.ffn_norm.weight")
	}
	for _, n := range want {
		if !names[n] {
			t.Errorf("tensor %s missing", n)
		}
	}
	// attn_q holds the merged q_proj with rows permuted as llama.cpp expects.
	if arch == gguf.ArchLlama {
		ti, _ := f.Tensor("blk.0.attn_q.weight")
		q, err := f.Float32("blk.0.attn_q.weight")
		if err != nil {
			t.Fatal(err)
		}
		if ti.Type == gguf.F32 {
			mg, _ := newMerger(g.m, g.set)
			hf, _ := mg.f32("model.layers.0.self_attn.q_proj.weight")
			want, _ := gguf.PermuteRoPE(hf, c.Heads, c.Dim)
			if !reflect.DeepEqual(q, want) {
				t.Error("blk.0.attn_q.weight is not the RoPE-permuted merged q_proj")
			}
		}
	}
	mf, err := os.ReadFile(filepath.Join(filepath.Dir(path), ModelfileName))
	if err != nil {
		t.Fatal(err)
	}
	eos := g.m.Tok.TokenString(g.m.Tok.EOS())
	if !strings.Contains(string(mf), "FROM ./"+filepath.Base(path)+"\n") || strings.Contains(string(mf), "ADAPTER") ||
		!strings.Contains(string(mf), `PARAMETER stop "`+eos+`"`) || !strings.Contains(string(mf), `TEMPLATE """{{ .Prompt }}"""`) {
		t.Errorf("Modelfile:\n%s", mf)
	}
}

// checkGGUFAdapter reads a GGUF adapter with gguf-parser-go and checks
// llama.cpp's shape rules.
func checkGGUFAdapter(t *testing.T, g *golden, path string) {
	pf, err := parser.ParseGGUFFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kv := pf.Header.MetadataKV
	get := func(k string) parser.GGUFMetadataKV { v, _ := kv.Get(k); return v }
	if get("general.type").ValueString() != "adapter" || get("adapter.type").ValueString() != "lora" ||
		get("adapter.lora.alpha").ValueFloat32() != 8 || get("general.architecture").ValueString() != gguf.ArchFor(g.m.Config.ModelType) {
		t.Errorf("adapter metadata: %+v", kv)
	}
	if len(pf.TensorInfos) != 2*len(g.set.Mods) {
		t.Fatalf("%d tensors, want %d", len(pf.TensorInfos), 2*len(g.set.Mods))
	}
	// llama.cpp: a.ne[0] == W.ne[0] (in), b.ne[1] == W.ne[1] (out), a.ne[1] == b.ne[0] (rank).
	byName := map[string]*model.Linear{}
	for _, l := range g.m.Linears() {
		n, _ := gguf.TensorName(gguf.ArchFor(g.m.Config.ModelType), l.W.Name)
		byName[n] = l
	}
	dims := map[string][]uint64{}
	for _, ti := range pf.TensorInfos {
		dims[ti.Name] = ti.Dimensions
	}
	for n, l := range byName {
		a, b := dims[n+".lora_a"], dims[n+".lora_b"]
		if a == nil || b == nil {
			t.Errorf("%s: lora_a/lora_b missing", n)
			continue
		}
		if a[0] != uint64(l.W.In) || b[1] != uint64(l.W.Out) || a[1] != b[0] || a[1] != 4 {
			t.Errorf("%s: lora_a %v lora_b %v for a weight [%d in, %d out]", n, a, b, l.W.In, l.W.Out)
		}
	}
	mf, _ := os.ReadFile(filepath.Join(filepath.Dir(path), ModelfileName))
	base, _ := filepath.Abs(g.m.Dir)
	if !strings.Contains(string(mf), "FROM "+base+"\n") || !strings.Contains(string(mf), "ADAPTER ./"+filepath.Base(path)+"\n") {
		t.Errorf("Modelfile:\n%s", mf)
	}
}

// checkNoLeftovers fails when dir holds anything but the names given.
func checkNoLeftovers(t *testing.T, dir string, keep ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !slices.Contains(keep, e.Name()) {
			t.Errorf("%s left behind in %s", e.Name(), dir)
		}
	}
}

// failingDisk hands out writers that fail with ENOSPC once limit bytes
// have been written across all files.
type failingDisk struct {
	mu      sync.Mutex
	limit   int
	written int
}

type failingFile struct {
	f *os.File
	d *failingDisk
}

func (d *failingDisk) create(p string) (io.WriteCloser, error) {
	f, err := os.Create(p)
	if err != nil {
		return nil, err
	}
	return &failingFile{f, d}, nil
}

func (w *failingFile) Write(p []byte) (int, error) {
	w.d.mu.Lock()
	room := w.d.limit - w.d.written
	n := min(room, len(p))
	w.d.written += n
	w.d.mu.Unlock()
	if n > 0 {
		if _, err := w.f.Write(p[:n]); err != nil {
			return 0, err
		}
	}
	if n < len(p) {
		return n, &os.PathError{Op: "write", Path: w.f.Name(), Err: syscall.ENOSPC}
	}
	return n, nil
}

func (w *failingFile) Close() error { return w.f.Close() }

// TestExportAtomic: an export whose writes fail half-way (disk full), or
// whose context is cancelled, leaves no output and no temporary files, and
// an existing destination untouched; a successful --force export replaces
// the destination.
func TestExportAtomic(t *testing.T) {
	g := loadGolden(t, "stories260K")
	for _, c := range []struct{ format, quant string }{{ExportPEFT, ""}, {ExportMerged, ""}, {ExportGGUF, "q8_0"}, {ExportGGUFAdapter, ""}} {
		t.Run(c.format, func(t *testing.T) {
			// The size of a full export, to fail half-way through it.
			probe := filepath.Join(t.TempDir(), "probe")
			rep, err := Export(context.Background(), g.m, g.set, ExportOptions{Format: c.format, Quant: c.quant, Out: probe, NoVerify: true})
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, f := range rep.Files {
				total += int(f.Bytes)
			}
			for _, existing := range []bool{false, true} {
				parent := t.TempDir()
				out := filepath.Join(parent, "out")
				if existing {
					os.Mkdir(out, 0o755)
					os.WriteFile(filepath.Join(out, "keep.txt"), []byte("old"), 0o644)
				}
				disk := &failingDisk{limit: total / 2}
				_, err := Export(context.Background(), g.m, g.set, ExportOptions{Format: c.format, Quant: c.quant, Out: out, Overwrite: true, create: disk.create})
				if err == nil || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left") {
					t.Fatalf("error %v, want ENOSPC", err)
				}
				if existing {
					if !strings.Contains(err.Error(), "untouched") {
						t.Errorf("error does not say the destination is untouched: %v", err)
					}
					checkNoLeftovers(t, parent, "out")
					checkNoLeftovers(t, out, "keep.txt")
				} else {
					if !strings.Contains(err.Error(), "nothing was written") {
						t.Errorf("error does not say nothing was written: %v", err)
					}
					checkNoLeftovers(t, parent)
				}
			}
			// A cancelled export.
			parent := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := Export(ctx, g.m, g.set, ExportOptions{Format: c.format, Quant: c.quant, Out: filepath.Join(parent, "out")}); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled export: %v", err)
			}
			checkNoLeftovers(t, parent)
			// --force replaces an existing folder.
			out := filepath.Join(parent, "out")
			os.Mkdir(out, 0o755)
			os.WriteFile(filepath.Join(out, "keep.txt"), []byte("old"), 0o644)
			if _, err := Export(context.Background(), g.m, g.set, ExportOptions{Format: c.format, Quant: c.quant, Out: out}); err == nil || !strings.Contains(err.Error(), "--force") {
				t.Errorf("export over a non-empty folder without Overwrite: %v", err)
			}
			if _, err := Export(context.Background(), g.m, g.set, ExportOptions{Format: c.format, Quant: c.quant, Out: out, Overwrite: true, NoVerify: true}); err != nil {
				t.Fatal(err)
			}
			checkNoLeftovers(t, parent, "out")
			if _, err := os.Stat(filepath.Join(out, "keep.txt")); !os.IsNotExist(err) {
				t.Error("keep.txt survived the replacement")
			}
		})
	}
}

// TestExportRefusesBadExport: an export damaged after writing fails
// verification and is not saved.
func TestExportRefusesBadExport(t *testing.T) {
	g := loadGolden(t, "stories260K")
	for _, c := range []struct {
		format string
		damage func(dir string) error
		want   string
	}{
		{ExportMerged, func(dir string) error {
			// Replace the weights with the base model's: the adapter is lost.
			raw, err := os.ReadFile(filepath.Join(g.m.Dir, "model.safetensors"))
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "model.safetensors"), raw, 0o644)
		}, "exceeds the tolerance"},
		{ExportPEFT, func(dir string) error {
			p := filepath.Join(dir, train.AdapterConfigFile)
			raw, _ := os.ReadFile(p)
			return os.WriteFile(p, []byte(strings.Replace(string(raw), `"lora_alpha": 8`, `"lora_alpha": 16`, 1)), 0o644)
		}, "exceeds the tolerance"},
		{ExportGGUF, func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "model-f16.gguf"), []byte("GGUF"), 0o644)
		}, "model-f16.gguf"},
	} {
		t.Run(c.format, func(t *testing.T) {
			parent := t.TempDir()
			rep, err := Export(context.Background(), g.m, g.set, ExportOptions{Format: c.format, Out: filepath.Join(parent, "out"), afterWrite: c.damage})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "verification") {
				t.Fatalf("error %v, want a failed verification mentioning %q", err, c.want)
			}
			if strings.Contains(c.want, "tolerance") && (rep.Verify == nil || rep.Verify.Passed) {
				t.Errorf("verification %+v", rep.Verify)
			}
			checkNoLeftovers(t, parent)
		})
	}
}

// TestExportNoOp: an untrained adapter (B = 0) and one too small to change
// 16-bit weights are reported as no-ops.
func TestExportNoOp(t *testing.T) {
	m, err := model.Load(testenv.Fixture(t, "models", "gpt2-tiny-random"), cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	set, err := train.Attach(m, train.LoraConfig{Targets: []string{"c_attn"}, Rank: 2, Alpha: 4}, 1)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Export(context.Background(), m, set, ExportOptions{Format: ExportPEFT, Out: filepath.Join(t.TempDir(), "a")})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "no-op") {
		t.Errorf("warnings %v, want the no-op warning", rep.Warnings)
	}
	for _, l := range set.Mods {
		b := make([]float32, l.B.Len())
		for i := range b {
			b[i] = 1e-12
		}
		m.Be.Upload(l.B, b)
	}
	rep, err = Export(context.Background(), m, set, ExportOptions{Format: ExportMerged, DType: "f16", Out: filepath.Join(t.TempDir(), "m")})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "identical") {
		t.Errorf("warnings %v, want the identical-weights warning", rep.Warnings)
	}
	for _, l := range set.Mods {
		b := make([]float32, l.B.Len())
		for i := range b {
			b[i] = 1e-4
		}
		m.Be.Upload(l.B, b)
	}
	rep, err = Export(context.Background(), m, set, ExportOptions{Format: ExportMerged, Out: filepath.Join(t.TempDir(), "m")})
	if err != nil || len(rep.Warnings) != 0 {
		t.Errorf("f32 merge of a small update: %v, warnings %v", err, rep.Warnings)
	}
}

// TestPEFTKeyForms: adapters keyed the way PEFT writes them with an
// adapter name (lora_A.default.weight), and GPT-2 adapters trained on
// GPT2Model (no "transformer."), load and give PyTorch's logits; exporting
// them writes PEFT's plain keys with identical values.
func TestPEFTKeyForms(t *testing.T) {
	for _, name := range goldenModels {
		t.Run(name, func(t *testing.T) {
			g := loadGolden(t, name)
			dir := filepath.Join(t.TempDir(), "adapter")
			os.Mkdir(dir, 0o755)
			var ts []safetensors.Tensor
			for _, p := range g.set.Params() {
				key := strings.Replace(p.Name, ".lora_A.weight", ".lora_A.default.weight", 1)
				key = strings.Replace(key, ".lora_B.weight", ".lora_B.default.weight", 1)
				key = strings.Replace(key, "base_model.model.transformer.", "base_model.model.", 1)
				ts = append(ts, safetensors.F32Tensor(key, p.Value.Shape, g.values[p.Name]))
			}
			if !strings.Contains(ts[0].Name, ".default.weight") || strings.Contains(ts[0].Name, "transformer.") {
				t.Fatalf("key %s", ts[0].Name)
			}
			if err := safetensors.Write(filepath.Join(dir, train.AdapterWeightsFile), ts, nil); err != nil {
				t.Fatal(err)
			}
			cfg, _ := json.Marshal(map[string]any{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "base_model_name_or_path": g.m.Dir})
			os.WriteFile(filepath.Join(dir, train.AdapterConfigFile), cfg, 0o644)

			m, err := model.Load(g.m.Dir, cpu.New())
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			set, err := train.LoadAdapter(dir, m)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(logitsOf(m, g.rows), g.logits); d > 1e-4 {
				t.Errorf("logits differ from final_logits by %.3g", d)
			}
			out := filepath.Join(t.TempDir(), "peft")
			if _, err := Export(context.Background(), m, set, ExportOptions{Format: ExportPEFT, Out: out}); err != nil {
				t.Fatal(err)
			}
			f, err := safetensors.Open(filepath.Join(out, train.AdapterWeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for key, want := range g.values {
				got, err := f.Float32(key)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("%s: %v (values equal: %v)", key, err, reflect.DeepEqual(got, want))
				}
			}
			// ExportFromDirs finds the base through base_model_name_or_path.
			rep, err := ExportFromDirs(context.Background(), "", dir, "cpu", ExportOptions{Format: ExportGGUFAdapter, Out: filepath.Join(t.TempDir(), "g")})
			if err != nil || !rep.Verify.Passed {
				t.Errorf("ExportFromDirs: %v", err)
			}
		})
	}
}

func TestOllamaTemplates(t *testing.T) {
	type msg struct{ Role, Content string }
	data := map[string]any{"System": "Be brief.", "Messages": []msg{{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}}}
	cases := []struct {
		jinja, kind, want string
		stop              string
	}{
		{"{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}", "chatml",
			"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n", "<|im_end|>"},
		{"{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{% endfor %}", "llama-3",
			"<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"},
		{"{% for m in messages %}{% if m.role == 'user' %}<|user|>\n{% elif m.role == 'assistant' %}<|assistant|>\n{% endif %}{{ m.content }}</s>{% endfor %}", "zephyr",
			"<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello.</s>\n<|user|>\nBye</s>\n<|assistant|>\n", "<|user|>"},
		{"{% if messages[0]['role'] == 'system' %}<<SYS>>{% endif %}{{ '[INST] ' + content + ' [/INST]' }}", "llama-2",
			"[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello.</s><s>[INST] Bye [/INST]", "[INST]"},
		{"{% for m in messages %}### {{ m.role }}: {{ m.content }}{% endfor %}", "generic",
			"system: Be brief.\nuser: Hi\nassistant: Hello.\nuser: Bye\nassistant: ", ""},
		{"", "plain", "", ""},
	}
	for _, c := range cases {
		tmpl, stops, kind := ollamaTemplateFor(c.jinja)
		if kind != c.kind {
			t.Errorf("%q: kind %s, want %s", c.jinja, kind, c.kind)
			continue
		}
		if c.stop != "" && !slices.Contains(stops, c.stop) {
			t.Errorf("%s: stops %v lack %q", kind, stops, c.stop)
		}
		tt, err := template.New(kind).Parse(tmpl)
		if err != nil {
			t.Errorf("%s: template does not parse: %v", kind, err)
			continue
		}
		var b strings.Builder
		if err := tt.Execute(&b, data); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
		if kind != "plain" && b.String() != c.want {
			t.Errorf("%s renders\n%q\nwant\n%q", kind, b.String(), c.want)
		}
	}
}

func TestExportOptionErrors(t *testing.T) {
	g := loadGolden(t, "gpt2-tiny-random")
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	full := filepath.Join(dir, "full")
	os.Mkdir(full, 0o755)
	os.WriteFile(filepath.Join(full, "x"), []byte("x"), 0o644)
	out := filepath.Join(dir, "new")
	cases := []struct {
		set  *train.Adapters
		opt  ExportOptions
		want string
	}{
		{g.set, ExportOptions{Format: "onnx", Out: out}, `unknown export format "onnx"`},
		{g.set, ExportOptions{Format: ExportMerged}, "no output folder"},
		{nil, ExportOptions{Format: ExportPEFT, Out: out}, "no adapter"},
		{g.set, ExportOptions{Format: ExportMerged, DType: "fp8", Out: out}, `unknown dtype "fp8"`},
		{g.set, ExportOptions{Format: ExportGGUF, DType: "f16", Out: out}, "--dtype applies to merged"},
		{g.set, ExportOptions{Format: ExportGGUF, Quant: "q5_k", Out: out}, `unknown GGUF type "q5_k"`},
		{g.set, ExportOptions{Format: ExportGGUFAdapter, Quant: "q8_0", Out: out}, "f32 or f16"},
		{g.set, ExportOptions{Format: ExportMerged, Quant: "q8_0", Out: out}, "--quant applies"},
		{g.set, ExportOptions{Format: ExportMerged, Out: file}, "is a file"},
		{g.set, ExportOptions{Format: ExportMerged, Out: full}, "not empty"},
		{g.set, ExportOptions{Format: ExportMerged, Out: out, SampleIDs: [][]int32{{1, 2}, {3}}}, "same length"},
		{g.set, ExportOptions{Format: ExportMerged, Out: out, SampleIDs: [][]int32{{1, 60000}}}, "outside the vocabulary"},
	}
	for _, c := range cases {
		_, err := Export(context.Background(), g.m, c.set, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.opt, err, c.want)
		}
	}
	checkNoLeftovers(t, dir, "file", "full")
}

func TestResolveAdapterDir(t *testing.T) {
	dir := t.TempDir()
	mk := func(files ...string) string {
		d, _ := os.MkdirTemp(dir, "x")
		for _, f := range files {
			os.MkdirAll(filepath.Dir(filepath.Join(d, f)), 0o755)
			os.WriteFile(filepath.Join(d, f), []byte("{}"), 0o644)
		}
		return d
	}
	adapter := mk(train.AdapterConfigFile)
	if got, err := ResolveAdapterDir(adapter); err != nil || got != adapter {
		t.Errorf("adapter folder: %q, %v", got, err)
	}
	for _, c := range []struct{ dir, want string }{
		{mk(train.ConfigFile, filepath.Join(train.FullModelDir, "config.json")), "full fine-tuning run"},
		{mk(train.ConfigFile), "holds no adapter_config.json yet"},
		{mk("x.txt"), "give a PEFT adapter folder"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		if _, err := ResolveAdapterDir(c.dir); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.dir, err, c.want)
		}
	}
}

func TestInspectGGUF(t *testing.T) {
	p := testenv.Fixture(t, "models", "llama-2-tiny-random.gguf")
	info, err := Inspect(p)
	if err != nil {
		t.Fatal(err)
	}
	g := info.GGUF
	if info.Format != "gguf" || g == nil || info.Architecture != "llama" || info.Layers != 1 || info.Hidden != 8 || info.Heads != 2 ||
		info.KVHeads != 2 || info.HeadDim != 4 || info.FFN != 32 || info.Context != 4096 || info.Vocab != 32000 || info.TiedHead ||
		info.TokenizerVocab != 32000 || info.TokenizerKind != "sentencepiece BPE" || g.Tensors != 12 || g.Version != 3 || g.FileType != 1 {
		t.Errorf("inspect: %+v %+v", info, g)
	}
	wantParams := int64(2*32000*8 + 4*64 + 3*256 + 3*8)
	if info.Params != wantParams || info.DTypes["f16"] != wantParams-24 || info.DTypes["f32"] != 24 {
		t.Errorf("params %d %v, want %d", info.Params, info.DTypes, wantParams)
	}
	// a folder holding one GGUF file
	dir := t.TempDir()
	raw, _ := os.ReadFile(p)
	os.WriteFile(filepath.Join(dir, "m.gguf"), raw, 0o644)
	if info, err := Inspect(dir); err != nil || info.GGUF == nil {
		t.Errorf("folder with a GGUF: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "n.gguf"), raw, 0o644)
	if _, err := Inspect(dir); err == nil || !strings.Contains(err.Error(), "2 GGUF files") {
		t.Errorf("folder with two GGUF files: %v", err)
	}
	bad := filepath.Join(dir, "bad.gguf")
	os.WriteFile(bad, []byte("GGUF\x03\x00\x00\x00"), 0o644)
	if _, err := Inspect(bad); err == nil || !strings.Contains(err.Error(), "bad.gguf") {
		t.Errorf("damaged GGUF: %v", err)
	}
	// an exported adapter
	gl := loadGolden(t, "stories260K")
	out := filepath.Join(t.TempDir(), "a")
	if _, err := Export(context.Background(), gl.m, gl.set, ExportOptions{Format: ExportGGUFAdapter, Out: out, NoVerify: true}); err != nil {
		t.Fatal(err)
	}
	info, err = Inspect(filepath.Join(out, "adapter-f32.gguf"))
	if err != nil || info.GGUF.Type != "adapter" || info.GGUF.AdapterType != "lora" || info.GGUF.LoraAlpha != 8 || info.Architecture != "llama" || info.GGUF.Tensors != 70 {
		t.Errorf("adapter: %v %+v", err, info.GGUF)
	}
	if info.Params != paramsOf(gl.set) {
		t.Errorf("adapter params %d, want %d", info.Params, paramsOf(gl.set))
	}
}

func paramsOf(set *train.Adapters) int64 {
	var n int64
	for _, l := range set.Mods {
		n += int64(l.A.Len() + l.B.Len())
	}
	return n
}

// TestExportFromQuantizedBase: with the base held at 4 or 8 bits (QLoRA),
// the merge still reads the original weights from disk, so the merged model
// gives PyTorch's logits of the full-precision base with the adapter.
func TestExportFromQuantizedBase(t *testing.T) {
	g := loadGolden(t, "stories260K")
	for _, bits := range []int{4, 8} {
		m, err := model.LoadWith(g.m.Dir, cpu.New(), model.LoadOptions{Bits: bits})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if exactWeights(m) {
			t.Fatalf("%d-bit base: weights are not quantized", bits)
		}
		set, err := train.Attach(m, g.set.Config, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range set.Params() {
			m.Be.Upload(p.Value, g.values[p.Name])
		}
		if d := maxAbsDiff(logitsOf(m, g.rows), g.logits); d < 1e-3 {
			t.Fatalf("%d-bit base gives PyTorch's logits within %.3g: the test would not tell the bases apart", bits, d)
		}
		out := filepath.Join(t.TempDir(), "merged")
		rep, err := Export(context.Background(), m, set, ExportOptions{Format: ExportMerged, Out: out, SampleIDs: g.rows})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Verify.Passed || rep.Verify.MaxAbsLogitDiff > 1e-4 {
			t.Errorf("%d-bit base: verification %+v", bits, rep.Verify)
		}
		mm, err := model.Load(out, cpu.New())
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(logitsOf(mm, g.rows), g.logits); d > 1e-4 {
			t.Errorf("%d-bit base: merged logits differ from final_logits by %.3g", bits, d)
		}
		mm.Close()
	}
}

// writeRandomLlama writes a random Llama-family model folder (the
// stories260K tokenizer, vocab 512) with the given config.json fields.
func writeRandomLlama(t *testing.T, extra map[string]any) string {
	t.Helper()
	src := testenv.Fixture(t, "models", "stories260K")
	dir := t.TempDir()
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	cfg := map[string]any{"model_type": "llama", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 96,
		"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
		"max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false}
	for k, v := range extra {
		cfg[k] = v
	}
	js, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, "config.json"), js, 0o644)
	c, err := model.ParseConfig(js)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var ts []safetensors.Tensor
	add := func(name string, scale float64, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * scale)
			if len(shape) == 1 && strings.HasSuffix(name, "norm.weight") {
				v[i] += 1
			}
		}
		ts = append(ts, safetensors.F32Tensor(name, shape, v))
	}
	D, q, kv := c.Dim, c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	add("model.embed_tokens.weight", 0.5, c.Vocab, D)
	add("model.norm.weight", 0.1, D)
	if !c.TiedHead {
		add("lm_head.weight", 0.2, c.Vocab, D)
	}
	for i := range c.Layers {
		p := "model.layers." + strconv.Itoa(i) + "."
		add(p+"input_layernorm.weight", 0.1, D)
		add(p+"post_attention_layernorm.weight", 0.1, D)
		add(p+"self_attn.q_proj.weight", 0.15, q, D)
		add(p+"self_attn.k_proj.weight", 0.15, kv, D)
		add(p+"self_attn.v_proj.weight", 0.15, kv, D)
		add(p+"self_attn.o_proj.weight", 0.15, D, q)
		if c.QKVBias {
			add(p+"self_attn.q_proj.bias", 0.3, q)
			add(p+"self_attn.k_proj.bias", 0.3, kv)
			add(p+"self_attn.v_proj.bias", 0.3, kv)
		}
		if c.OBias {
			add(p+"self_attn.o_proj.bias", 0.3, D)
		}
		add(p+"mlp.gate_proj.weight", 0.15, c.FFN, D)
		add(p+"mlp.up_proj.weight", 0.15, c.FFN, D)
		add(p+"mlp.down_proj.weight", 0.15, D, c.FFN)
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestGGUFLlamaFamily exports Llama-family layouts the fixtures lack (GQA,
// explicit head_dim, untied head, q/k/v/o biases; Mistral and Qwen2
// model types) to GGUF and a GGUF adapter, verified within 1e-4 in f32.
func TestGGUFLlamaFamily(t *testing.T) {
	for _, c := range []struct {
		name    string
		extra   map[string]any
		arch    string
		permute bool
	}{
		{"llama-bias", map[string]any{"attention_bias": true}, "llama", true},
		{"mistral", map[string]any{"model_type": "mistral", "tie_word_embeddings": true}, "llama", true},
		{"qwen2", map[string]any{"model_type": "qwen2"}, "qwen2", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := model.Load(writeRandomLlama(t, c.extra), cpu.New())
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			set, err := train.Attach(m, train.LoraConfig{Targets: []string{"all-linear"}, Rank: 4, Alpha: 8, RSLora: true}, 1)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for _, l := range set.Mods {
				b := make([]float32, l.B.Len())
				for i := range b {
					b[i] = float32(rng.NormFloat64() * 0.1)
				}
				m.Be.Upload(l.B, b)
			}
			for _, format := range []string{ExportGGUF, ExportGGUFAdapter} {
				out := filepath.Join(t.TempDir(), "out")
				rep, err := Export(context.Background(), m, set, ExportOptions{Format: format, Quant: "f32", Out: out})
				if err != nil {
					t.Fatal(err)
				}
				if v := rep.Verify; !v.Passed || v.MaxAbsLogitDiff > 1e-4 || v.MaxAbsTensorDiff != 0 {
					t.Errorf("%s: verification %+v", format, v)
				}
				if format == ExportGGUFAdapter {
					continue
				}
				f, err := gguf.Open(filepath.Join(out, "model-f32.gguf"))
				if err != nil {
					t.Fatal(err)
				}
				if f.Architecture() != c.arch {
					t.Errorf("architecture %q, want %q", f.Architecture(), c.arch)
				}
				_, hasOutput := f.Tensor("output.weight")
				if hasOutput != !m.Config.TiedHead {
					t.Errorf("output.weight present: %v, tied head: %v", hasOutput, m.Config.TiedHead)
				}
				if m.Config.QKVBias {
					got, err := f.Float32("blk.1.attn_k.bias")
					if err != nil {
						t.Fatal(err)
					}
					want, _ := m.Checkpoint().Float32("model.layers.1.self_attn.k_proj.bias")
					if c.permute {
						want, _ = gguf.PermuteRoPE(want, m.Config.KVHeads, 1)
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("blk.1.attn_k.bias is not the checkpoint's bias (permuted: %v)", c.permute)
					}
				}
				f.Close()
			}
		})
	}
}

// TestMergedSharded: a model larger than the shard limit is written as
// shards with an index, which the loader reads back.
func TestMergedSharded(t *testing.T) {
	g := loadGolden(t, "stories260K")
	defer func(n int64) { maxShardBytes = n }(maxShardBytes)
	maxShardBytes = 300 << 10
	out := filepath.Join(t.TempDir(), "merged")
	rep, err := Export(context.Background(), g.m, g.set, ExportOptions{Format: ExportMerged, Out: out, SampleIDs: g.rows})
	if err != nil {
		t.Fatal(err)
	}
	var shards []string
	for _, f := range rep.Files {
		if strings.HasPrefix(f.Name, "model-") {
			shards = append(shards, f.Name)
			if f.Bytes > maxShardBytes+4096 {
				t.Errorf("%s is %d bytes", f.Name, f.Bytes)
			}
		}
	}
	if len(shards) < 3 || shards[0] != "model-00001-of-0000"+strconv.Itoa(len(shards))+".safetensors" {
		t.Errorf("shards %v", shards)
	}
	if _, err := os.Stat(filepath.Join(out, safetensors.IndexFileName)); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(out, safetensors.SingleFileName)); !os.IsNotExist(err) {
		t.Error("model.safetensors written beside the shards")
	}
	if !rep.Verify.Passed || rep.Verify.MaxAbsLogitDiff > 1e-4 {
		t.Errorf("verification %+v", rep.Verify)
	}
}
