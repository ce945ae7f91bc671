package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/fynetune/fynetune/app"
	"github.com/fynetune/fynetune/train"
)

func runTrain(ctx context.Context, env *Env, args []string) error {
	const syn = "--model DIR --data FILE --out RUN_DIR [flags] | --config run.toml | --resume RUN_DIR"
	f := newFlags(env, "train", syn)
	d := train.DefaultConfig()
	cfgPath := f.String("config", "", "read settings from this TOML file (flags given too override it)")
	resume := f.String("resume", "", "continue the run in this directory from its latest checkpoint")
	modelDir := f.String("model", d.Model, "model folder (Hugging Face layout)")
	dataPath := f.String("data", d.Data, "training data (.txt, .json, .jsonl, .csv)")
	valid := f.String("valid", d.Valid, "validation data file (default: split off --valid-split)")
	out := f.String("out", d.Out, "run directory")
	mode := f.String("mode", d.Mode, "lora or full")
	initAdapter := f.String("init-adapter", d.InitAdapter, "start from this PEFT adapter folder")
	backend := f.String("backend", d.Backend, "compute backend: auto, cpu or gpu")
	bits := f.Int("bits", d.Bits, "frozen weights: 16, 8 (int8) or 4 (NF4, QLoRA)")
	adapterBits := f.Int("adapter-bits", d.AdapterBits, "store the run's adapter at 8 or 4 bits (0: f32)")
	recompute := f.Bool("recompute", d.Recompute, "gradient checkpointing: keep only each block's input and rerun it in backward (less memory, about a third slower)")
	rank := f.Int("rank", d.Rank, "LoRA rank r")
	alpha := f.Float64("alpha", d.Alpha, "LoRA alpha (scale alpha/r)")
	dropout := f.Float64("dropout", d.Dropout, "LoRA dropout on the adapter input")
	targets := f.String("targets", strings.Join(d.Targets, ","), "modules to adapt, comma-separated, or all-linear")
	rslora := f.Bool("rslora", d.RSLora, "scale by alpha/sqrt(r)")
	initKind := f.String("init", d.Init, "LoRA init: peft or gaussian")
	optName := f.String("optimizer", d.Optimizer, "adamw or sgd")
	lr := f.Float64("lr", d.LR, "peak learning rate")
	wd := f.Float64("weight-decay", d.WeightDecay, "AdamW decoupled weight decay")
	momentum := f.Float64("momentum", d.Momentum, "SGD momentum")
	clip := f.Float64("max-grad-norm", d.MaxGradNorm, "clip the global gradient norm (0: off)")
	sched := f.String("schedule", d.Schedule, "constant, linear or cosine")
	warmup := f.Int("warmup", d.Warmup, "warm-up steps")
	epochs := f.Int("epochs", d.Epochs, "passes over the data (when --steps is 0)")
	steps := f.Int("steps", d.Steps, "optimizer steps (overrides --epochs)")
	batch := f.Int("batch", d.Batch, "sequences per micro-batch")
	accum := f.Int("grad-accum", d.GradAccum, "micro-batches per optimizer step")
	seqLen := f.Int("seq-len", d.SeqLen, "tokens per sequence")
	seed := f.Uint64("seed", d.Seed, "random seed (init, shuffling, dropout)")
	format := f.String("format", d.Format, "data format: auto, text, jsonl-text, prompt-completion, alpaca, chat, sharegpt, csv")
	tmpl := f.String("template", d.Template, "prompt template: auto (the model's), chatml, llama-2, llama-3, alpaca, plain")
	packing := f.Bool("packing", d.Packing, "pack short examples into full rows")
	validSplit := f.Float64("valid-split", d.ValidSplit, "fraction of the data held out for validation")
	skipBad := f.Bool("skip-bad", d.SkipBad, "skip bad records (counted) instead of stopping")
	textSplit := f.String("text-split", d.TextSplit, "plain text documents: auto, endoftext, blank, line or none")
	csvText := f.String("csv-text", d.CSVText, "CSV column holding whole texts")
	csvPrompt := f.String("csv-prompt", d.CSVPrompt, "CSV prompt column (with --csv-completion)")
	csvAnswer := f.String("csv-completion", d.CSVAnswer, "CSV completion column")
	evalEvery := f.Int("eval-every", d.EvalEvery, "score the validation set every N steps")
	evalBatches := f.Int("eval-batches", d.EvalBatches, "validation batches per evaluation (0: all)")
	saveEvery := f.Int("save-every", d.SaveEvery, "checkpoint every N steps")
	if err := f.parse(syn, args); err != nil {
		return err
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })

	var cfg train.Config
	resuming := *resume != ""
	switch {
	case resuming:
		c, err := train.LoadConfig(filepath.Join(*resume, train.ConfigFile))
		if err != nil {
			return err
		}
		cfg, cfg.Out = c, *resume
	case *cfgPath != "":
		c, err := train.LoadConfig(*cfgPath)
		if err != nil {
			return err
		}
		cfg = c
	default:
		cfg = d
	}
	if !resuming {
		// Flags given on the command line override the config file.
		apply := map[string]func(){
			"model": func() { cfg.Model = *modelDir }, "data": func() { cfg.Data = *dataPath },
			"valid": func() { cfg.Valid = *valid }, "out": func() { cfg.Out = *out }, "mode": func() { cfg.Mode = *mode },
			"init-adapter": func() { cfg.InitAdapter = *initAdapter }, "backend": func() { cfg.Backend = *backend },
			"bits": func() { cfg.Bits = *bits }, "adapter-bits": func() { cfg.AdapterBits = *adapterBits },
			"recompute": func() { cfg.Recompute = *recompute },
			"rank":      func() { cfg.Rank = *rank }, "alpha": func() { cfg.Alpha = *alpha }, "dropout": func() { cfg.Dropout = *dropout },
			"targets": func() { cfg.Targets = splitList(*targets) }, "rslora": func() { cfg.RSLora = *rslora },
			"init": func() { cfg.Init = *initKind }, "optimizer": func() { cfg.Optimizer = *optName }, "lr": func() { cfg.LR = *lr },
			"weight-decay": func() { cfg.WeightDecay = *wd }, "momentum": func() { cfg.Momentum = *momentum },
			"max-grad-norm": func() { cfg.MaxGradNorm = *clip }, "schedule": func() { cfg.Schedule = *sched },
			"warmup": func() { cfg.Warmup = *warmup }, "epochs": func() { cfg.Epochs = *epochs }, "steps": func() { cfg.Steps = *steps },
			"batch": func() { cfg.Batch = *batch }, "grad-accum": func() { cfg.GradAccum = *accum }, "seq-len": func() { cfg.SeqLen = *seqLen },
			"seed": func() { cfg.Seed = *seed }, "format": func() { cfg.Format = *format }, "template": func() { cfg.Template = *tmpl },
			"packing": func() { cfg.Packing = *packing }, "valid-split": func() { cfg.ValidSplit = *validSplit },
			"skip-bad": func() { cfg.SkipBad = *skipBad }, "text-split": func() { cfg.TextSplit = *textSplit },
			"csv-text": func() { cfg.CSVText = *csvText }, "csv-prompt": func() { cfg.CSVPrompt = *csvPrompt },
			"csv-completion": func() { cfg.CSVAnswer = *csvAnswer }, "eval-every": func() { cfg.EvalEvery = *evalEvery },
			"eval-batches": func() { cfg.EvalBatches = *evalBatches }, "save-every": func() { cfg.SaveEvery = *saveEvery },
		}
		for name, fn := range apply {
			if set[name] {
				fn()
			}
		}
		if err := cfg.Check(); err != nil {
			return f.bad(syn, "%v", err)
		}
	} else if len(set) > 1 {
		return f.bad(syn, "--resume continues a run with its saved config.toml; give no other flags")
	}
	be, err := app.NewBackend(cfg.Backend)
	if err != nil {
		return err
	}
	metrics := make(chan train.Metrics, 64)
	progress := newProgress(env.Stderr)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range metrics {
			progress.update(m)
		}
	}()
	opts := train.Options{Backend: be, Resume: resuming, Metrics: metrics,
		Log: func(format string, a ...any) { progress.note(fmt.Sprintf(format, a...)) }}
	res, err := train.Train(ctx, cfg, opts)
	close(metrics)
	<-done
	progress.finish()
	if errors.Is(err, train.ErrStopped) {
		fmt.Fprintf(env.Stderr, "stopped; continue with: fynetune train --resume %s\n", cfg.Out)
		return err
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "trained %d steps, last loss %.4f", res.Steps, res.LastLoss)
	if !math.IsNaN(res.EvalLoss) {
		fmt.Fprintf(env.Stdout, ", validation loss %.4f", res.EvalLoss)
	}
	fmt.Fprintln(env.Stdout)
	if res.Adapter != "" {
		fmt.Fprintf(env.Stdout, "adapter: %s\n", res.Adapter)
	}
	if res.ModelDir != "" {
		fmt.Fprintf(env.Stdout, "model: %s\n", res.ModelDir)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// progress draws a one-line progress bar on a terminal, plain lines elsewhere.
type progress struct {
	w     io.Writer
	tty   bool
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		p.tty = term.IsTerminal(int(f.Fd()))
	}
	return p
}

func (p *progress) note(s string) {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	fmt.Fprintln(p.w, s)
}

func (p *progress) update(m train.Metrics) {
	eta := time.Duration(0)
	if m.Step > 0 {
		eta = time.Duration(m.ElapsedS / float64(m.Step) * float64(m.TotalSteps-m.Step) * float64(time.Second))
	}
	ev := ""
	if m.EvalLoss != nil {
		ev = fmt.Sprintf(" eval %.4f", *m.EvalLoss)
	}
	if p.tty {
		const width = 24
		fill := width * m.Step / max(1, m.TotalSteps)
		bar := strings.Repeat("█", fill) + strings.Repeat("·", width-fill)
		fmt.Fprintf(p.w, "\r\033[K%s %d/%d loss %.4f%s %.0f tok/s ETA %s", bar, m.Step, m.TotalSteps, m.Loss, ev, m.TokensPerSec, eta.Round(time.Second))
		p.drawn = true
		if m.EvalLoss != nil {
			fmt.Fprintln(p.w)
			p.drawn = false
		}
		return
	}
	if m.EvalLoss != nil || m.Step == m.TotalSteps || time.Since(p.last) > 2*time.Second {
		p.last = time.Now()
		fmt.Fprintf(p.w, "step %d/%d loss %.4f%s lr %.3g %.0f tok/s ETA %s\n", m.Step, m.TotalSteps, m.Loss, ev, m.LR, m.TokensPerSec, eta.Round(time.Second))
	}
}

func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
