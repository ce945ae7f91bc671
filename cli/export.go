package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/fynetune/fynetune/app"
)

func runExport(ctx context.Context, env *Env, args []string) error {
	const syn = "--model DIR --adapter RUN_OR_ADAPTER_DIR --format peft|merged|gguf|gguf-adapter --out DIR [flags]"
	f := newFlags(env, "export", syn)
	modelDir := f.String("model", "", "base model folder (default: the adapter's base_model_name_or_path)")
	adapter := f.String("adapter", "", "PEFT adapter folder, or a training run folder holding one")
	format := f.String("format", "", "peft, merged, gguf or gguf-adapter")
	dtype := f.String("dtype", "", "merged weights: f32, f16 or bf16 (default: as the source checkpoint)")
	quant := f.String("quant", "", "GGUF tensors: f32, f16, q8_0 or q4_0 (default f16); gguf-adapter: f32 (default) or f16")
	out := f.String("out", "", "folder to create with the export")
	noVerify := f.Bool("no-verify", false, "do not read the export back and compare its logits")
	force := f.Bool("force", false, "replace --out if it exists and is not empty")
	backend := f.String("backend", "auto", "compute backend: auto, cpu or gpu")
	asJSON := f.Bool("json", false, "print the report as JSON")
	if err := f.parse(syn, args, "format", "out"); err != nil {
		return err
	}
	if !slices.Contains(app.ExportFormats, *format) {
		return f.bad(syn, "--format %q: want %s", *format, strings.Join(app.ExportFormats, ", "))
	}
	if *adapter == "" && (*format == app.ExportPEFT || *format == app.ExportGGUFAdapter) {
		return f.bad(syn, "--format %s needs --adapter", *format)
	}
	if *adapter == "" && *modelDir == "" {
		return f.bad(syn, "missing --model")
	}
	if *dtype != "" && *format != app.ExportMerged {
		return f.bad(syn, "--dtype applies to --format merged (use --quant for GGUF)")
	}
	if *dtype != "" && !slices.Contains([]string{"f32", "f16", "bf16"}, *dtype) {
		return f.bad(syn, "--dtype %q: want f32, f16 or bf16", *dtype)
	}
	switch {
	case *quant == "":
	case *format == app.ExportGGUF && !slices.Contains([]string{"f32", "f16", "q8_0", "q4_0"}, *quant):
		return f.bad(syn, "--quant %q: want f32, f16, q8_0 or q4_0", *quant)
	case *format == app.ExportGGUFAdapter && !slices.Contains([]string{"f32", "f16"}, *quant):
		return f.bad(syn, "--quant %q: a GGUF adapter is f32 or f16", *quant)
	case *format != app.ExportGGUF && *format != app.ExportGGUFAdapter:
		return f.bad(syn, "--quant applies to --format gguf and gguf-adapter (use --dtype for merged)")
	}
	opt := app.ExportOptions{Format: *format, Out: *out, DType: *dtype, Quant: *quant, NoVerify: *noVerify, Overwrite: *force,
		Log: func(format string, a ...any) { fmt.Fprintf(env.Stderr, "export: "+format+"\n", a...) }}
	rep, err := app.ExportFromDirs(ctx, *modelDir, *adapter, *backend, opt)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printExportReport(env, rep)
	return nil
}

func printExportReport(env *Env, rep *app.ExportReport) {
	w := env.Stdout
	fmt.Fprintf(w, "exported     %s to %s\n", rep.Format, rep.Out)
	for _, f := range rep.Files {
		fmt.Fprintf(w, "  %-28s %s\n", f.Name, humanBytes(f.Bytes))
	}
	if rep.DType != "" {
		fmt.Fprintf(w, "tensors      %s\n", rep.DType)
	}
	fmt.Fprintf(w, "adapter      %d LoRA modules\n", rep.Modules)
	if v := rep.Verify; v != nil {
		tol := fmt.Sprintf("tolerance %.3g", v.Tolerance)
		if v.Tolerance == 0 {
			tol = "report only"
		}
		fmt.Fprintf(w, "verified     %s\n", v.Method)
		fmt.Fprintf(w, "             %d rows, %d tokens: max |Δlogit| %.3g (%s), mean |Δloss| %.3g, max tensor error %.3g\n",
			v.Samples, v.Tokens, v.MaxAbsLogitDiff, tol, v.MeanAbsLossDiff, v.MaxAbsTensorDiff)
	} else {
		fmt.Fprintf(w, "verified     no (--no-verify)\n")
	}
	for _, s := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
	for _, s := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", s)
	}
}
