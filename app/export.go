package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/train"
)

// Export formats: what a trained adapter can be taken elsewhere as.
const (
	// ExportPEFT is a Hugging Face PEFT adapter folder (adapter_config.json,
	// adapter_model.safetensors), loadable with PeftModel.from_pretrained.
	ExportPEFT = "peft"
	// ExportMerged is a Hugging Face model folder with W' = W + s·B·A.
	ExportMerged = "merged"
	// ExportGGUF is the merged model as a GGUF file for llama.cpp and
	// Ollama, with a Modelfile beside it.
	ExportGGUF = "gguf"
	// ExportGGUFAdapter is the adapter as a llama.cpp GGUF LoRA adapter,
	// with a Modelfile (FROM the base, ADAPTER the file) beside it.
	ExportGGUFAdapter = "gguf-adapter"
)

// ExportFormats lists the formats Export writes.
var ExportFormats = []string{ExportPEFT, ExportMerged, ExportGGUF, ExportGGUFAdapter}

// Tolerances on the largest logit difference between an export and the
// base model with the adapter applied in memory. f32 exports must match
// within TolF32 absolute. The lossy types' tolerances are relative to the
// largest reference logit (at least 1): rounding every weight moves the
// logits in proportion to their size, so that on stories260K (logits up
// to 22) converting the base alone to bf16 already moves them by 0.14 and
// to Q8_0 by 0.37, far from a bug's error but over an absolute 2e-2 or
// 0.1. Q4_0 has no tolerance: its error is reported only.
const (
	TolF32  = 1e-4
	TolF16  = 2e-2 // also bf16
	TolQ8_0 = 0.1
)

// ExportOptions says what Export writes and where.
type ExportOptions struct {
	Format string // one of ExportFormats
	// Out is the folder the export becomes. It must not exist or be empty,
	// unless Overwrite is set; it appears only once everything in it is
	// written and verified.
	Out string
	// DType is the merged model's weight type: "f32", "f16" or "bf16";
	// "" keeps each tensor's type in the source checkpoint.
	DType string
	// Quant is the GGUF tensor type: "f32", "f16" (the default for gguf),
	// "q8_0" or "q4_0"; gguf-adapter takes "f32" (its default) or "f16".
	// Norms and other 1-D tensors are always F32.
	Quant string
	// NoVerify skips reading the export back and comparing its logits.
	NoVerify bool
	// Overwrite replaces an existing, non-empty Out (atomically: the old
	// folder stays until the new one is complete).
	Overwrite bool
	// SampleIDs are the token rows verification runs through both models
	// (all of one length); nil means a few sentences of sample text.
	SampleIDs [][]int32
	// Log receives progress lines; nil discards them.
	Log func(format string, a ...any)

	// create opens a file for writing (tests inject failing writers);
	// nil means os.Create.
	create func(path string) (io.WriteCloser, error)
	// afterWrite, when set, runs on the staged folder before verification
	// (tests damage an export there).
	afterWrite func(dir string) error
}

// ExportFile is one file of an export.
type ExportFile struct {
	Name  string `json:"name"` // relative to the export folder
	Bytes int64  `json:"bytes"`
}

// ExportReport says what an export wrote and how it verified.
type ExportReport struct {
	Format   string        `json:"format"`
	Out      string        `json:"out"`
	Files    []ExportFile  `json:"files"`
	DType    string        `json:"dtype,omitempty"` // tensor type(s) written
	Modules  int           `json:"adapted_modules"` // LoRA modules exported or merged
	Verify   *Verification `json:"verification,omitempty"`
	Warnings []string      `json:"warnings,omitempty"` // no-op adapters and the like
	Notes    []string      `json:"notes,omitempty"`    // choices made (fallback types, templates)
}

// Verification is the result of reading an export back: the export run
// through Fynetune's own loaders against the base model with the adapter
// applied in memory, on the same sample rows.
type Verification struct {
	Method          string  `json:"method"`  // what was reloaded and how
	Samples         int     `json:"samples"` // rows
	Tokens          int     `json:"tokens"`  // positions compared
	MaxAbsLogitDiff float64 `json:"max_abs_logit_diff"`
	MeanAbsLossDiff float64 `json:"mean_abs_loss_diff"` // per row, next-token loss
	// MaxAbsTensorDiff is the largest difference between a tensor read back
	// and the value it was meant to hold (0 for exact formats; the rounding
	// or quantization error otherwise).
	MaxAbsTensorDiff float64 `json:"max_abs_tensor_diff"`
	// MaxAbsLogit is the largest |logit| of the reference, the scale of the
	// 16-bit and Q8_0 tolerances.
	MaxAbsLogit float64 `json:"max_abs_logit"`
	// Tolerance is the bound on MaxAbsLogitDiff (0: report only): TolF32
	// for f32 exports; for lossy types TolF16 or TolQ8_0 times
	// max(1, MaxAbsLogit).
	Tolerance float64 `json:"tolerance"`
	Passed    bool    `json:"passed"`
}

// exporter carries one export through writing and verification.
type exporter struct {
	ctx  context.Context
	m    *model.Model
	set  *train.Adapters
	opt  ExportOptions
	st   *stage
	rep  *ExportReport
	mg   *merger
	tol  float64
	plan any // format-specific: what was written, for verification
}

func (x *exporter) logf(format string, a ...any) {
	if x.opt.Log != nil {
		x.opt.Log(format, a...)
	}
}

func (x *exporter) note(format string, a ...any) {
	x.rep.Notes = append(x.rep.Notes, fmt.Sprintf(format, a...))
}

func (x *exporter) warn(format string, a ...any) {
	x.rep.Warnings = append(x.rep.Warnings, fmt.Sprintf(format, a...))
}

// Export writes m with the adapters set (attached to m; nil exports the
// base model alone, for merged and gguf) in the chosen format into
// opt.Out, then, unless opt.NoVerify, reads it back and compares it with
// base+adapter in memory (see Verification), refusing an export beyond
// tolerance.
//
// Merging always reads the original weights from the checkpoint on disk
// (m.Checkpoint()), never the in-memory ones, which may have been
// quantized to 8 or 4 bits for QLoRA: merging into a re-quantized base
// would add the quantization error to every weight of the export.
//
// The export is atomic: files are written into a temporary folder beside
// opt.Out (each through a temporary file and a rename), verified there,
// and the folder is renamed to opt.Out last. On any failure (disk full,
// permission denied, a cancelled ctx, a failed verification) nothing is
// left behind and an existing opt.Out is untouched; the error says what
// happened. m must not be used by anything else during the export; its
// adapters are put in evaluation mode (no dropout).
func Export(ctx context.Context, m *model.Model, set *train.Adapters, opt ExportOptions) (*ExportReport, error) {
	if err := checkExportOptions(&opt, set); err != nil {
		return nil, err
	}
	if set != nil {
		set.SetTraining(false)
	}
	dest, err := filepath.Abs(opt.Out)
	if err != nil {
		return nil, err
	}
	existed, err := checkDest(dest, opt.Overwrite)
	if err != nil {
		return nil, err
	}
	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dest)+".export-*")
	if err != nil {
		return nil, fmt.Errorf("cannot create a folder beside %s: %w", dest, err)
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(tmp)
		}
	}()
	x := &exporter{ctx: ctx, m: m, set: set, opt: opt, st: newStage(tmp, opt.create),
		rep: &ExportReport{Format: opt.Format, Out: dest}}
	if set != nil {
		x.rep.Modules = len(set.Mods)
		x.checkNoOpAdapter()
	}
	fail := func(err error) (*ExportReport, error) {
		what := "nothing was written"
		if existed {
			what = "the existing " + dest + " is untouched"
		}
		return x.rep, fmt.Errorf("export %s to %s failed: %w; %s", opt.Format, dest, err, what)
	}
	if x.mg, err = newMerger(m, set); err != nil {
		return fail(err)
	}
	switch opt.Format {
	case ExportPEFT:
		err = x.writePEFT()
	case ExportMerged:
		err = x.writeMerged()
	case ExportGGUF:
		err = x.writeGGUF()
	case ExportGGUFAdapter:
		err = x.writeGGUFAdapter()
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil && opt.afterWrite != nil {
		err = opt.afterWrite(tmp)
	}
	if err != nil {
		return fail(err)
	}
	if !opt.NoVerify {
		x.logf("verifying %s", opt.Format)
		v, err := x.verify()
		x.rep.Verify = v
		if err != nil {
			return fail(fmt.Errorf("verification: %w", err))
		}
		if !v.Passed {
			return fail(fmt.Errorf("verification: max |Δlogit| %.3g exceeds the tolerance %g for %s (mean |Δloss| %.3g); the export is not saved (--no-verify saves it anyway)",
				v.MaxAbsLogitDiff, v.Tolerance, x.rep.DType, v.MeanAbsLossDiff))
		}
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if x.rep.Files, err = x.st.list(); err != nil {
		return fail(err)
	}
	if err := commitDir(tmp, dest, existed); err != nil {
		return fail(err)
	}
	committed = true
	return x.rep, nil
}

func checkExportOptions(opt *ExportOptions, set *train.Adapters) error {
	if opt.Out == "" {
		return fmt.Errorf("no output folder given")
	}
	switch opt.Format {
	case ExportPEFT, ExportGGUFAdapter:
		if set == nil || len(set.Mods) == 0 {
			return fmt.Errorf("export %s: no adapter to export", opt.Format)
		}
	case ExportMerged, ExportGGUF:
	default:
		return fmt.Errorf("unknown export format %q (want %s)", opt.Format, strings.Join(ExportFormats, ", "))
	}
	switch opt.DType {
	case "", "f32", "f16", "bf16":
	default:
		return fmt.Errorf("unknown dtype %q (want f32, f16 or bf16)", opt.DType)
	}
	if opt.DType != "" && opt.Format != ExportMerged {
		return fmt.Errorf("--dtype applies to merged exports; use --quant for %s", opt.Format)
	}
	switch opt.Format {
	case ExportGGUF:
		switch opt.Quant {
		case "":
			opt.Quant = "f16"
		case "f32", "f16", "q8_0", "q4_0":
		default:
			return fmt.Errorf("unknown GGUF type %q (want f32, f16, q8_0 or q4_0)", opt.Quant)
		}
	case ExportGGUFAdapter:
		switch opt.Quant {
		case "":
			opt.Quant = "f32"
		case "f32", "f16":
		default:
			return fmt.Errorf("GGUF adapter type %q is not supported (want f32 or f16)", opt.Quant)
		}
	default:
		if opt.Quant != "" {
			return fmt.Errorf("--quant applies to gguf and gguf-adapter exports; use --dtype for %s", opt.Format)
		}
	}
	if len(opt.SampleIDs) > 0 {
		n := len(opt.SampleIDs[0])
		for _, r := range opt.SampleIDs {
			if len(r) != n || n < 2 {
				return fmt.Errorf("sample rows must all have the same length, at least 2")
			}
		}
	}
	return nil
}

// checkDest reports whether dest exists, refusing a file or, without
// overwrite, a non-empty folder.
func checkDest(dest string, overwrite bool) (bool, error) {
	st, err := os.Stat(dest)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !st.IsDir() {
		return false, fmt.Errorf("%s exists and is a file; give a folder to create", dest)
	}
	entries, err := os.ReadDir(dest)
	if err != nil {
		return false, err
	}
	if len(entries) > 0 && !overwrite {
		return false, fmt.Errorf("%s exists and is not empty; choose another output folder or replace it (--force)", dest)
	}
	return true, nil
}

// commitDir renames the finished folder tmp to dest. An existing dest is
// moved aside first and removed only once tmp is in place.
func commitDir(tmp, dest string, existed bool) error {
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if !existed {
		if err := os.Rename(tmp, dest); err != nil {
			return err
		}
		syncDir(filepath.Dir(dest))
		return nil
	}
	old, err := os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".old-*")
	if err != nil {
		return err
	}
	os.Remove(old) // only its unique name is needed
	if err := os.Rename(dest, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dest); err != nil {
		if rerr := os.Rename(old, dest); rerr != nil {
			return fmt.Errorf("%v; the previous folder is at %s", err, old)
		}
		return err
	}
	syncDir(filepath.Dir(dest))
	return os.RemoveAll(old)
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort; not supported everywhere
		d.Close()
	}
}

// stage is the temporary folder an export is written into.
type stage struct {
	dir    string
	create func(path string) (io.WriteCloser, error)
}

func newStage(dir string, create func(string) (io.WriteCloser, error)) *stage {
	if create == nil {
		create = func(p string) (io.WriteCloser, error) { return os.Create(p) }
	}
	return &stage{dir: dir, create: create}
}

// path is the path of a file of the stage.
func (s *stage) path(name string) string { return filepath.Join(s.dir, name) }

// write writes the file name through fn: into name.part, flushed, synced
// and closed, then renamed to name. On failure the part file is removed.
func (s *stage) write(name string, fn func(w io.Writer) error) (err error) {
	final := s.path(name)
	part := final + ".part"
	f, err := s.create(part)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(part)
			err = fmt.Errorf("writing %s: %w", name, err)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = fn(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if sy, ok := f.(interface{ Sync() error }); ok {
		if err = sy.Sync(); err != nil {
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(part, final)
}

// writeBytes writes a small file.
func (s *stage) writeBytes(name string, data []byte) error {
	return s.write(name, func(w io.Writer) error { _, err := w.Write(data); return err })
}

// list returns the files of the stage, sorted.
func (s *stage) list() ([]ExportFile, error) {
	var out []ExportFile
	err := filepath.WalkDir(s.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.dir, p)
		out = append(out, ExportFile{Name: filepath.ToSlash(rel), Bytes: info.Size()})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// ResolveAdapterDir finds the PEFT adapter of a path that is either an
// adapter folder or a training run folder holding one.
func ResolveAdapterDir(path string) (string, error) {
	if _, err := os.Stat(filepath.Join(path, train.AdapterConfigFile)); err == nil {
		return path, nil
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("adapter %s: %w", path, err)
	}
	if _, err := os.Stat(filepath.Join(path, train.ConfigFile)); err == nil {
		if _, err := os.Stat(filepath.Join(path, train.FullModelDir, "config.json")); err == nil {
			return "", fmt.Errorf("%s is a full fine-tuning run: it has no adapter; its trained model is %s (export it with --model and no --adapter)", path, filepath.Join(path, train.FullModelDir))
		}
		return "", fmt.Errorf("run %s holds no %s yet: the adapter is written when training ends (or stops)", path, train.AdapterConfigFile)
	}
	return "", fmt.Errorf("%s holds no %s: give a PEFT adapter folder or a training run folder", path, train.AdapterConfigFile)
}

// ExportFromDirs opens the model folder modelDir on the named backend,
// loads the adapter of adapterPath (an adapter folder or a run folder
// holding one; "" for none) and exports. When modelDir is "", the
// adapter's base_model_name_or_path is used if it is a folder here.
func ExportFromDirs(ctx context.Context, modelDir, adapterPath, backend string, opt ExportOptions) (*ExportReport, error) {
	adapterDir := ""
	if adapterPath != "" {
		d, err := ResolveAdapterDir(adapterPath)
		if err != nil {
			return nil, err
		}
		adapterDir = d
	}
	if modelDir == "" {
		if adapterDir == "" {
			return nil, fmt.Errorf("give the base model folder (--model)")
		}
		base, err := adapterBase(adapterDir)
		if err != nil {
			return nil, err
		}
		modelDir = base
	}
	be, err := NewBackend(backend)
	if err != nil {
		return nil, err
	}
	m, err := model.Load(modelDir, be)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	var set *train.Adapters
	if adapterDir != "" {
		if set, err = train.LoadAdapter(adapterDir, m); err != nil {
			return nil, err
		}
	}
	return Export(ctx, m, set, opt)
}

// adapterBase returns the adapter's base_model_name_or_path when it names
// a folder that exists here.
func adapterBase(adapterDir string) (string, error) {
	cfg, err := readPeftConfig(adapterDir)
	if err != nil {
		return "", err
	}
	p := cfg.BaseModelNameOrPath
	if st, err := os.Stat(filepath.Join(p, "config.json")); p != "" && err == nil && !st.IsDir() {
		return p, nil
	}
	return "", fmt.Errorf("give the base model folder (--model): the adapter's base_model_name_or_path %q is not a model folder here", p)
}
