package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fynetune/fynetune/app"
)

func runBench(ctx context.Context, env *Env, args []string) error {
	const syn = "[--case NAME] [--backend cpu|gpu|auto] [--bits 16|8|4 --recompute --batch N --seq-len N --rank N --steps N --threads N] [--json]"
	f := newFlags(env, "bench", syn)
	only := f.String("case", "", "run one case: gpt2-124m, gpt2-tiny or stories260K (default: all, each in its own process)")
	backend := f.String("backend", "auto", "compute backend: auto, cpu or gpu")
	bits := f.Int("bits", 16, "frozen weights: 16, 8 or 4")
	recompute := f.Bool("recompute", false, "gradient checkpointing (as train --recompute)")
	batch := f.Int("batch", 4, "sequences per step")
	seqLen := f.Int("seq-len", 128, "tokens per sequence")
	rank := f.Int("rank", 8, "LoRA rank")
	steps := f.Int("steps", 5, "timed steps")
	warmup := f.Int("warmup", 1, "untimed steps before timing")
	threads := f.Int("threads", 0, "CPU threads for matrix products (0: all cores)")
	fixtures := f.String("fixtures", defaultFixtures(), "fixtures folder (for stories260K)")
	asJSON := f.Bool("json", false, "print results as JSON lines")
	if err := f.parse(syn, args); err != nil {
		return err
	}
	if *batch < 1 || *seqLen < 2 || *rank < 1 || *steps < 1 || *warmup < 0 || *threads < 0 {
		return f.bad(syn, "--batch, --seq-len, --rank and --steps must be positive")
	}
	if *bits != 16 && *bits != 8 && *bits != 4 {
		return f.bad(syn, "--bits must be 16, 8 or 4")
	}
	opt := app.BenchOptions{Bits: *bits, Recompute: *recompute, Backend: *backend, Batch: *batch, SeqLen: *seqLen, Rank: *rank, Steps: *steps, Warmup: *warmup, Threads: *threads}
	cases := app.BenchCases(*fixtures)
	if *only != "" {
		for _, c := range cases {
			if c.Name == *only {
				r, err := app.RunBench(ctx, c, opt)
				if err != nil {
					return err
				}
				return printBench(env, []app.BenchResult{r}, *asJSON)
			}
		}
		return f.bad(syn, "unknown case %q", *only)
	}
	// Each case in its own process, so each peak RSS is its own.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var results []app.BenchResult
	for _, c := range cases {
		if c.Model != "" {
			if _, err := os.Stat(c.Model); err != nil {
				fmt.Fprintf(env.Stderr, "bench: skipping %s: %s not found (set --fixtures)\n", c.Name, c.Model)
				continue
			}
		}
		cmd := exec.CommandContext(ctx, self, "bench", "--case", c.Name, "--json", "--backend", *backend, "--bits", strconv.Itoa(*bits), "--recompute="+strconv.FormatBool(*recompute),
			"--batch", strconv.Itoa(*batch), "--seq-len", strconv.Itoa(*seqLen), "--rank", strconv.Itoa(*rank),
			"--steps", strconv.Itoa(*steps), "--warmup", strconv.Itoa(*warmup), "--threads", strconv.Itoa(*threads),
			"--fixtures", *fixtures)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("bench %s: %v: %s", c.Name, err, strings.TrimSpace(errb.String()))
		}
		var r app.BenchResult
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			return fmt.Errorf("bench %s: %v", c.Name, err)
		}
		results = append(results, r)
	}
	return printBench(env, results, *asJSON)
}

func printBench(env *Env, rs []app.BenchResult, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		for _, r := range rs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(env.Stdout, "%-12s %-28s %4s %5s %7s %9s %9s %8s %9s\n", "case", "backend", "bits", "recmp", "batch", "tokens/s", "step ms", "GFLOP/s", "peak RSS")
	for _, r := range rs {
		fmt.Fprintf(env.Stdout, "%-12s %-28s %4d %5s %3dx%-3d %9.0f %9.1f %8.1f %9s\n", r.Case, r.Backend, r.Bits, map[bool]string{true: "yes", false: "no"}[r.Recompute],
			r.Batch, r.SeqLen, r.TokensPerSec, r.StepMS, r.GFLOPS, humanBytes(int64(r.PeakRSS)))
	}
	return nil
}

// defaultFixtures is $FYNETUNE_FIXTURES or ../shared/fixtures.
func defaultFixtures() string {
	if d := os.Getenv("FYNETUNE_FIXTURES"); d != "" {
		return d
	}
	return filepath.Join("..", "shared", "fixtures")
}
