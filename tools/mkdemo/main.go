// Command mkdemo makes the workbench's offline demo (assets/demo): a small
// Llama-architecture model that Fynetune pretrains itself, with its own
// full-training mode, on a corpus this program generates (simple stories
// and facts; no third-party text or weights), its byte-level BPE tokenizer
// (learned here), and a fine-tuning dataset that teaches it to answer like a
// pirate. Run from the repository root:
//
//	go run ./tools/mkdemo            # writes assets/demo (a few minutes on 2 cores)
//	go run ./tools/mkdemo -check     # also fine-tunes the result and prints before/after
//	go run ./tools/mkdemo -check-only   # fine-tunes the demo in assets/demo and prints before/after
//
// The output is deterministic for a given -seed, -steps and machine word
// order (the CPU backend's sums are not bit-identical across CPUs, so the
// weights may differ in their last bits between machines).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/model/safetensors"
	"github.com/fynetune/fynetune/train"
)

// The demo model's shape: Llama (RMSNorm, RoPE, GQA, SwiGLU), tied head.
const (
	dim      = 64
	layers   = 4
	heads    = 4
	kvHeads  = 2
	ffn      = 176
	maxPos   = 256
	bpeMerge = 383 // 256 bytes + 383 merges + <|endoftext|> = 640 tokens
)

func main() {
	out := flag.String("out", filepath.Join("assets", "demo"), "output folder")
	seed := flag.Uint64("seed", 1, "seed of the corpus, the initial weights and the training")
	docs := flag.Int("docs", 12000, "documents in the pretraining corpus")
	steps := flag.Int("steps", 1200, "pretraining steps")
	check := flag.Bool("check", false, "fine-tune the result on the demo dataset and print the base and adapter answers")
	checkOnly := flag.Bool("check-only", false, "only check the demo already in -out (as -check does)")
	flag.Parse()
	log.SetFlags(0)
	if *checkOnly {
		if err := checkDemo(*out); err != nil {
			log.Fatal("mkdemo: ", err)
		}
		return
	}
	if err := run(*out, *seed, *docs, *steps, *check); err != nil {
		log.Fatal("mkdemo: ", err)
	}
}

func run(out string, seed uint64, docs, steps int, check bool) error {
	t0 := time.Now()
	work, err := os.MkdirTemp("", "mkdemo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	corpus := Corpus(seed, docs)
	corpusPath := filepath.Join(work, "corpus.txt")
	if err := os.WriteFile(corpusPath, []byte(corpus), 0o644); err != nil {
		return err
	}
	merges := LearnBPE(corpus, bpeMerge)
	tokJSON, vocab := TokenizerJSON(merges)
	log.Printf("corpus: %d documents, %d bytes; tokenizer: %d merges, %d tokens", docs, len(corpus), len(merges), vocab)

	initDir := filepath.Join(work, "init")
	if err := writeModel(initDir, tokJSON, vocab, seed); err != nil {
		return err
	}

	cfg := train.DefaultConfig()
	cfg.Mode, cfg.Model, cfg.Data, cfg.Out = "full", initDir, corpusPath, filepath.Join(work, "pretrain")
	cfg.Backend = "cpu"
	cfg.LR, cfg.Schedule, cfg.Warmup, cfg.WeightDecay = 3e-3, "cosine", 40, 0.01
	cfg.Steps, cfg.Batch, cfg.SeqLen, cfg.GradAccum = steps, 16, 128, 1
	cfg.Dropout, cfg.Seed, cfg.ValidSplit = 0, seed, 0.02
	cfg.EvalEvery, cfg.EvalBatches, cfg.SaveEvery, cfg.KeepCheckpts = 100, 8, 0, 1
	metrics := make(chan train.Metrics, 16)
	go func() {
		for m := range metrics {
			if m.Step%50 == 0 || m.EvalLoss != nil {
				ev := ""
				if m.EvalLoss != nil {
					ev = fmt.Sprintf(" eval %.3f", *m.EvalLoss)
				}
				log.Printf("pretrain step %d/%d loss %.3f%s (%.0f tok/s, %s)", m.Step, m.TotalSteps, m.Loss, ev, m.TokensPerSec, time.Since(t0).Round(time.Second))
			}
		}
	}()
	res, err := train.Train(context.Background(), cfg, train.Options{Backend: cpu.New(), Metrics: metrics,
		Log: func(f string, a ...any) { log.Printf(f, a...) }})
	close(metrics)
	if err != nil {
		return fmt.Errorf("pretraining: %w", err)
	}
	log.Printf("pretrained %d steps: loss %.3f, validation %.3f (%s)", res.Steps, res.LastLoss, res.EvalLoss, time.Since(t0).Round(time.Second))

	modelOut := filepath.Join(out, "model")
	dataOut := filepath.Join(out, "data")
	for _, d := range []string{modelOut, dataOut} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for _, f := range []string{"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json", "model.safetensors"} {
		if err := copyFile(filepath.Join(res.ModelDir, f), filepath.Join(modelOut, f)); err != nil {
			return err
		}
	}
	if err := writeData(dataOut, corpus, seed); err != nil {
		return err
	}
	if err := writeDemoConfig(out); err != nil {
		return err
	}
	log.Printf("wrote %s (%s)", out, time.Since(t0).Round(time.Second))
	if check {
		return checkDemo(out)
	}
	return nil
}

// writeModel writes the untrained model folder: config, tokenizer and
// randomly initialised weights (normal, std 0.02; the residual projections
// scaled by 1/√(2·layers) as GPT-2 does; norms at 1).
func writeModel(dir string, tokJSON []byte, vocab int, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	eot := vocab - 1
	conf := map[string]any{
		"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama",
		"vocab_size": vocab, "hidden_size": dim, "intermediate_size": ffn, "num_hidden_layers": layers,
		"num_attention_heads": heads, "num_key_value_heads": kvHeads, "max_position_embeddings": maxPos,
		"rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": true,
		"attention_bias": false, "mlp_bias": false, "initializer_range": 0.02,
		"bos_token_id": eot, "eos_token_id": eot, "torch_dtype": "float32",
	}
	tokConf := map[string]any{
		"add_bos_token": false, "add_prefix_space": false, "bos_token": EndOfText, "eos_token": EndOfText,
		"unk_token": EndOfText, "pad_token": EndOfText, "model_max_length": maxPos, "tokenizer_class": "GPT2Tokenizer",
		"clean_up_tokenization_spaces": false,
	}
	gen := map[string]any{"bos_token_id": eot, "eos_token_id": eot, "do_sample": false, "max_new_tokens": 48}
	for name, v := range map[string]any{"config.json": conf, "tokenizer_config.json": tokConf, "generation_config.json": gen} {
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tokJSON, 0o644); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 3))
	normal := func(n int, std float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * std)
		}
		return v
	}
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	hd := dim / heads
	resid := 0.02 / math.Sqrt(2*layers)
	ts := []safetensors.Tensor{safetensors.F32Tensor("model.embed_tokens.weight", []int{vocab, dim}, normal(vocab*dim, 0.02))}
	for l := 0; l < layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		ts = append(ts,
			safetensors.F32Tensor(p+"input_layernorm.weight", []int{dim}, ones(dim)),
			safetensors.F32Tensor(p+"self_attn.q_proj.weight", []int{heads * hd, dim}, normal(heads*hd*dim, 0.02)),
			safetensors.F32Tensor(p+"self_attn.k_proj.weight", []int{kvHeads * hd, dim}, normal(kvHeads*hd*dim, 0.02)),
			safetensors.F32Tensor(p+"self_attn.v_proj.weight", []int{kvHeads * hd, dim}, normal(kvHeads*hd*dim, 0.02)),
			safetensors.F32Tensor(p+"self_attn.o_proj.weight", []int{dim, heads * hd}, normal(dim*heads*hd, resid)),
			safetensors.F32Tensor(p+"post_attention_layernorm.weight", []int{dim}, ones(dim)),
			safetensors.F32Tensor(p+"mlp.gate_proj.weight", []int{ffn, dim}, normal(ffn*dim, 0.02)),
			safetensors.F32Tensor(p+"mlp.up_proj.weight", []int{ffn, dim}, normal(ffn*dim, 0.02)),
			safetensors.F32Tensor(p+"mlp.down_proj.weight", []int{dim, ffn}, normal(dim*ffn, resid)),
		)
	}
	ts = append(ts, safetensors.F32Tensor("model.norm.weight", []int{dim}, ones(dim)))
	return safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"})
}

// writeData writes the demo datasets: pirate.jsonl (the fine-tuning data,
// prompt/completion) and stories.txt (a sample of the pretraining text, to
// show the plain-text format).
func writeData(dir, corpus string, seed uint64) error {
	var b strings.Builder
	for _, f := range FineTune(seed) {
		line, _ := json.Marshal(map[string]string{"prompt": f.q, "completion": f.a})
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "pirate.jsonl"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	docs := strings.Split(corpus, "\n\n")
	if len(docs) > 150 {
		docs = docs[:150]
	}
	return os.WriteFile(filepath.Join(dir, "stories.txt"), []byte(strings.TrimSpace(strings.Join(docs, "\n\n"))+"\n"), 0o644)
}

// DemoPrompts are the chat pane's sample questions (facts the fine-tuning
// data leaves out).
func DemoPrompts() []string {
	var out []string
	for _, f := range facts {
		if heldOut[f.q] {
			out = append(out, QAPrompt(f.q))
		}
	}
	return out
}

// writeDemoConfig writes demo.toml, the settings of "Train the demo" (paths
// relative to the demo folder), and prompts.txt, the chat pane's samples.
func writeDemoConfig(out string) error {
	c := train.DefaultConfig()
	c.Model, c.Data, c.Out = "model", filepath.Join("data", "pirate.jsonl"), ""
	c.Rank, c.Alpha, c.Dropout = 8, 16, 0.0
	c.Targets = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
	c.LR, c.Schedule, c.Warmup = 3e-3, "cosine", 10
	c.Epochs, c.Steps, c.Batch, c.GradAccum, c.SeqLen = 0, 120, 8, 1, 64
	c.Seed, c.ValidSplit, c.EvalEvery, c.SaveEvery = 1, 0.1, 20, 40
	if err := train.SaveConfig(filepath.Join(out, "demo.toml"), c); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "prompts.txt"), []byte(strings.Join(DemoPrompts(), "\n\n")+"\n"), 0o644)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// checkDemo fine-tunes the demo as "Train the demo" does and prints the
// base model's and the adapter's answers to the sample questions.
func checkDemo(out string) error {
	t0 := time.Now()
	c, err := train.LoadConfig(filepath.Join(out, "demo.toml"))
	if err != nil {
		return err
	}
	c.Model, c.Data = filepath.Join(out, c.Model), filepath.Join(out, c.Data)
	work, err := os.MkdirTemp("", "mkdemo-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	c.Out = work
	res, err := train.Train(context.Background(), c, train.Options{Backend: cpu.New()})
	if err != nil {
		return fmt.Errorf("fine-tuning the demo: %w", err)
	}
	log.Printf("fine-tuned %d steps in %s: loss %.3f, validation %.3f", res.Steps, time.Since(t0).Round(time.Second), res.LastLoss, res.EvalLoss)
	base, err := model.Load(c.Model, cpu.New())
	if err != nil {
		return err
	}
	defer base.Close()
	tuned, err := model.Load(c.Model, cpu.New())
	if err != nil {
		return err
	}
	defer tuned.Close()
	if _, err := train.LoadAdapter(res.Adapter, tuned); err != nil {
		return err
	}
	for _, p := range append(DemoPrompts(), QAPrompt("What does a cow say?"), "Once upon a time,") {
		log.Printf("%q\n  base:    %q\n  adapter: %q", p, generate(base, p), generate(tuned, p))
	}
	return nil
}

func generate(m *model.Model, prompt string) string {
	ids := m.Tok.EncodeWithSpecial(prompt)
	outIDs, err := m.Generate(context.Background(), ids, model.SampleOptions{MaxTokens: 40, StopAtEOS: true}, func(int) bool { return true })
	if err != nil {
		return "error: " + err.Error()
	}
	return m.Tok.Decode(outIDs)
}
