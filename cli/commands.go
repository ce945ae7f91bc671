package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/fynetune/fynetune/app"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/train"
)

func runGenerate(ctx context.Context, env *Env, args []string) error {
	const syn = "--model DIR --prompt TEXT [flags]"
	f := newFlags(env, "generate", syn)
	dir := f.String("model", "", "model folder (Hugging Face layout)")
	prompt := f.String("prompt", "", "text to continue")
	maxTok := f.Int("max-tokens", 128, "new tokens at most")
	temp := f.Float64("temperature", 0, "sampling temperature; 0 is greedy")
	topK := f.Int("top-k", 0, "sample among the k most likely tokens (0: all)")
	topP := f.Float64("top-p", 1, "sample within this cumulative probability")
	seed := f.Uint64("seed", 0, "random seed for sampling")
	backend := f.String("backend", "auto", "compute backend: auto, cpu or gpu")
	adapter := f.String("adapter", "", "apply this PEFT LoRA adapter folder")
	bits := f.Int("bits", 16, "frozen weights: 16, 8 (int8) or 4 (NF4)")
	if err := f.parse(syn, args, "model", "prompt"); err != nil {
		return err
	}
	switch {
	case *maxTok < 1:
		return f.bad(syn, "--max-tokens must be at least 1")
	case *temp < 0 || math.IsNaN(*temp):
		return f.bad(syn, "--temperature must be 0 or more")
	case *topK < 0:
		return f.bad(syn, "--top-k must be 0 or more")
	case !(*topP > 0 && *topP <= 1):
		return f.bad(syn, "--top-p must be in (0, 1]")
	}
	m, err := app.OpenModel(*dir, *backend, *adapter, *bits)
	if err != nil {
		return err
	}
	defer m.Close()
	ids := m.Tok.EncodeWithSpecial(*prompt)
	if len(ids) == 0 {
		return fmt.Errorf("the prompt encodes to no tokens and the tokenizer adds no BOS; give some text")
	}
	dec := m.Tok.NewDecoder()
	opt := model.SampleOptions{MaxTokens: *maxTok, Temperature: *temp, TopK: *topK, TopP: *topP, Seed: *seed, StopAtEOS: true}
	fmt.Fprint(env.Stdout, *prompt)
	_, err = m.Generate(ctx, ids, opt, func(id int) bool {
		fmt.Fprint(env.Stdout, dec.Next(id))
		return true
	})
	fmt.Fprintln(env.Stdout)
	return err
}

func runEval(ctx context.Context, env *Env, args []string) error {
	const syn = "--model DIR --data FILE [--seq-len N --batch N --json]"
	f := newFlags(env, "eval", syn)
	dir := f.String("model", "", "model folder (Hugging Face layout)")
	data := f.String("data", "", "text file to score")
	seqLen := f.Int("seq-len", 256, "tokens per window (capped at the model's context)")
	batch := f.Int("batch", 4, "windows per forward pass")
	asJSON := f.Bool("json", false, "print {\"tokens\",\"loss\",\"perplexity\"} as JSON")
	backend := f.String("backend", "auto", "compute backend: auto, cpu or gpu")
	adapter := f.String("adapter", "", "apply this PEFT LoRA adapter folder")
	bits := f.Int("bits", 16, "frozen weights: 16, 8 (int8) or 4 (NF4)")
	if err := f.parse(syn, args, "model", "data"); err != nil {
		return err
	}
	if *seqLen < 2 {
		return f.bad(syn, "--seq-len must be at least 2")
	}
	if *batch < 1 {
		return f.bad(syn, "--batch must be at least 1")
	}
	m, err := app.OpenModel(*dir, *backend, *adapter, *bits)
	if err != nil {
		return err
	}
	defer m.Close()
	r, err := app.Evaluate(ctx, m, *data, *seqLen, *batch, "auto", "")
	if err != nil {
		return err
	}
	n, loss := r.Tokens, r.Loss
	if *asJSON {
		return json.NewEncoder(env.Stdout).Encode(map[string]any{"tokens": n, "loss": loss, "perplexity": math.Exp(loss)})
	}
	fmt.Fprintf(env.Stdout, "tokens %d\nloss %.6f\nperplexity %.4f\n", n, loss, math.Exp(loss))
	return nil
}

func runInspect(ctx context.Context, env *Env, args []string) error {
	const syn = "--model DIR|FILE.gguf [--bits 16|8|4 --json]"
	f := newFlags(env, "inspect", syn)
	dir := f.String("model", "", "model folder (Hugging Face layout) or GGUF file")
	bits := f.Int("bits", 0, "also print the memory a LoRA run takes with the frozen weights at 16, 8 or 4 bits")
	asJSON := f.Bool("json", false, "print as JSON")
	if err := f.parse(syn, args, "model"); err != nil {
		return err
	}
	if *bits != 0 && *bits != 16 && *bits != 8 && *bits != 4 {
		return f.bad(syn, "--bits must be 16, 8 or 4")
	}
	info, err := app.Inspect(*dir)
	if err != nil {
		return err
	}
	var est *app.MemoryEstimate
	cfg := train.DefaultConfig()
	if *bits != 0 {
		if info.GGUF != nil {
			return fmt.Errorf("%s: --bits estimates training memory of a Hugging Face model folder, not of a GGUF file", *dir)
		}
		cfg.Bits = *bits
		if info.Architecture == string(model.ArchGPT2) {
			cfg.Targets = []string{"c_attn"} // the default q_proj,v_proj in GPT-2's fused form
		}
		cfg.SeqLen = min(cfg.SeqLen, info.Context)
		e, err := app.EstimateMemory(info, cfg)
		if err != nil {
			return err
		}
		est = &e
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if est != nil {
			return enc.Encode(struct {
				*app.ModelInfo
				Memory *app.MemoryEstimate `json:"memory"`
			}{info, est})
		}
		return enc.Encode(info)
	}
	defer func() {
		if est == nil {
			return
		}
		w := env.Stdout
		fmt.Fprintf(w, "memory at %d bits, LoRA r=%d on %s, batch %d x %d, AdamW:\n", est.Bits, cfg.Rank, strings.Join(cfg.Targets, ","), cfg.Batch, cfg.SeqLen)
		fmt.Fprintf(w, "  frozen weights   %s\n", app.FormatBytes(est.Weights))
		fmt.Fprintf(w, "  LoRA A and B     %s (+ gradients %s, optimizer %s)\n", app.FormatBytes(est.Trainable), app.FormatBytes(est.Gradients), app.FormatBytes(est.Optimizer))
		fmt.Fprintf(w, "  activations      %s\n", app.FormatBytes(est.Activations))
		fmt.Fprintf(w, "  logits           %s\n", app.FormatBytes(est.Logits))
		fmt.Fprintf(w, "  total            %s", app.FormatBytes(est.Total))
		if est.Free > 0 {
			fmt.Fprintf(w, " (%s free)", app.FormatBytes(est.Free))
		}
		fmt.Fprintln(w)
	}()
	w := env.Stdout
	fmt.Fprintf(w, "model        %s\n", info.Dir)
	if g := info.GGUF; g != nil {
		kind := "model"
		if g.Type == "adapter" {
			kind = fmt.Sprintf("%s adapter (alpha %g)", g.AdapterType, g.LoraAlpha)
		}
		fmt.Fprintf(w, "format       gguf v%d, %s, %d tensors, %d metadata entries\n", g.Version, kind, g.Tensors, g.Metadata)
		fmt.Fprintf(w, "architecture %s\n", info.Architecture)
	} else {
		fmt.Fprintf(w, "architecture %s (model_type %s)\n", info.Architecture, info.ModelType)
	}
	adapter := info.GGUF != nil && info.GGUF.Type == "adapter"
	if !adapter {
		fmt.Fprintf(w, "layers       %d\n", info.Layers)
		fmt.Fprintf(w, "hidden size  %d (MLP %d)\n", info.Hidden, info.FFN)
		fmt.Fprintf(w, "heads        %d (key/value heads %d, head dim %d)\n", info.Heads, info.KVHeads, info.HeadDim)
		fmt.Fprintf(w, "context      %d tokens\n", info.Context)
	}
	fmt.Fprintf(w, "parameters   %s (%d)\n", humanCount(info.Params), info.Params)
	var dts []string
	for k, v := range info.DTypes {
		dts = append(dts, fmt.Sprintf("%s %s", k, humanCount(v)))
	}
	sort.Strings(dts)
	fmt.Fprintf(w, "dtype        %s\n", strings.Join(dts, ", "))
	fmt.Fprintf(w, "on disk      %s in %s\n", humanBytes(info.BytesOnDisk), strings.Join(info.Files, ", "))
	if adapter {
		return nil
	}
	fmt.Fprintf(w, "tokenizer    %s, %d tokens (vocab_size %d)\n", info.TokenizerKind, info.TokenizerVocab, info.Vocab)
	tmpl := "no"
	if info.HasChatTemplate {
		tmpl = "yes"
	}
	fmt.Fprintf(w, "chat template %s\n", tmpl)
	fmt.Fprintf(w, "LoRA targets %s\n", strings.Join(info.LinearModules, ", "))
	if be, note, err := app.ChooseBackend("auto"); err == nil {
		fmt.Fprintf(w, "compute      %s\n", be.Name())
		if note != "" {
			fmt.Fprintf(w, "             (%s)\n", note)
		}
	}
	return nil
}

func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func humanBytes(n int64) string {
	const k = 1024
	switch {
	case n >= k*k*k:
		return fmt.Sprintf("%.2f GiB", float64(n)/(k*k*k))
	case n >= k*k:
		return fmt.Sprintf("%.1f MiB", float64(n)/(k*k))
	case n >= k:
		return fmt.Sprintf("%.1f KiB", float64(n)/k)
	}
	return fmt.Sprintf("%d B", n)
}
