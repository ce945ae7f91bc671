package ui

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/fynetune/fynetune/app"
)

// The Export menu's formats (the same names as app's export formats).
const (
	ExportPEFT        = "peft"         // Hugging Face PEFT adapter folder
	ExportMerged      = "merged"       // Hugging Face model folder with the adapter merged in
	ExportGGUF        = "gguf"         // merged model as GGUF (llama.cpp, Ollama)
	ExportGGUFAdapter = "gguf-adapter" // the adapter as a llama.cpp GGUF LoRA
)

// ExportRequest is one export the person asked for.
type ExportRequest struct {
	Format     string // one of the Export* names
	ModelDir   string // the base model folder
	AdapterDir string // the adapter (or run) folder
	Out        string // the folder to create
	DType      string // merged model: "" (as stored), "f32", "f16", "bf16"
	Quant      string // GGUF: "f16", "f32", "q8_0", "q4_0"; GGUF adapter: "f32", "f16"
	Verify     bool   // read the export back and compare its logits
	Backend    string // compute backend for merging and verification
}

// ExportResult is what an export wrote and how it verified, for the
// result dialog.
type ExportResult struct {
	Out          string
	Files        []string // "name (size)"
	Verification string   // one line; "" when not verified
	Verified     bool     // verification passed
	Notes        []string // warnings and choices made
}

// ExportFunc performs an export, calling log with progress lines. It runs
// off the UI goroutine.
type ExportFunc func(ctx context.Context, req ExportRequest, log func(string)) (*ExportResult, error)

// exportTitles names the formats in dialogs.
var exportTitles = map[string]string{
	ExportPEFT:        "Export adapter (PEFT)",
	ExportMerged:      "Export merged model (safetensors)",
	ExportGGUF:        "Export GGUF",
	ExportGGUFAdapter: "Export GGUF adapter",
}

// exportSource finds the adapter to export and its base model: the
// finished run shown in the Train tab, else the adapter chosen in the chat
// pane.
func (w *Workbench) exportSource() (modelDir, adapterDir string, err error) {
	if j := w.train.currentJob(); j != nil && j.State() == app.JobDone {
		c := j.Config()
		if res := j.Result(); res != nil && res.Adapter != "" {
			return c.Model, res.Adapter, nil
		}
		if c.Mode == "lora" { // a finished run opened from the Runs tab
			return c.Model, c.Out, nil
		}
	}
	if d := w.chat.adapters[w.chat.adapter.Selected]; d != "" && w.modelDir != "" {
		return w.modelDir, d, nil
	}
	return "", "", errors.New("no adapter to export: train a run first, or pick one in the Runs tab (Chat with adapter) and come back")
}

// exportAction runs the Export menu item for a format: options, the
// destination, the export with a progress dialog, and the result.
func (w *Workbench) exportAction(format string) {
	if w.opts.Export == nil {
		w.showError(errors.New("export is not available in this build"))
		return
	}
	modelDir, adapterDir, err := w.exportSource()
	if err != nil {
		w.showError(err)
		return
	}
	backend := "auto"
	if c, err := w.config.get(); err == nil {
		backend = c.Backend
	}
	req := ExportRequest{Format: format, ModelDir: modelDir, AdapterDir: adapterDir, Verify: true, Backend: backend}
	var items []*widget.FormItem
	var typeSel *widget.Select
	switch format {
	case ExportMerged:
		typeSel = widget.NewSelect([]string{"as stored", "f32", "f16", "bf16"}, nil)
		typeSel.SetSelected("as stored")
		items = append(items, widget.NewFormItem("Weights", typeSel))
	case ExportGGUF:
		typeSel = widget.NewSelect([]string{"f16", "f32", "q8_0", "q4_0"}, nil)
		typeSel.SetSelected("f16")
		items = append(items, widget.NewFormItem("Tensor type", typeSel))
	case ExportGGUFAdapter:
		typeSel = widget.NewSelect([]string{"f32", "f16"}, nil)
		typeSel.SetSelected("f32")
		items = append(items, widget.NewFormItem("Tensor type", typeSel))
	}
	verify := widget.NewCheck("Read the export back and compare its outputs", nil)
	verify.SetChecked(true)
	items = append([]*widget.FormItem{
		widget.NewFormItem("Base model", widget.NewLabel(modelDir)),
		widget.NewFormItem("Adapter", widget.NewLabel(adapterDir)),
	}, items...)
	items = append(items, widget.NewFormItem("Verify", verify))
	title := exportTitles[format]
	d := dialog.NewForm(title, "Choose destination…", "Cancel", items, func(ok bool) {
		if !ok {
			return
		}
		req.Verify = verify.Checked
		if typeSel != nil {
			switch format {
			case ExportMerged:
				if typeSel.Selected != "as stored" {
					req.DType = typeSel.Selected
				}
			default:
				req.Quant = typeSel.Selected
			}
		}
		name := exportName(req)
		w.choose(chooseSave, title, w.settings.RunsDir(), name, nil, func(out string) {
			req.Out = out
			w.runExport(title, req)
		})
	}, w.win)
	d.Resize(fyne.NewSize(620, 320))
	d.Show()
}

// exportName suggests the export's folder name.
func exportName(r ExportRequest) string {
	base := filepath.Base(r.AdapterDir)
	switch r.Format {
	case ExportPEFT:
		return base + "-adapter"
	case ExportMerged:
		return base + "-merged"
	case ExportGGUF:
		return base + "-gguf"
	}
	return base + "-gguf-adapter"
}

// runExport runs the export off the UI goroutine behind a progress dialog.
func (w *Workbench) runExport(title string, req ExportRequest) {
	bar := widget.NewProgressBarInfinite()
	logL := widget.NewLabel("Starting…")
	logL.Wrapping = fyne.TextWrapWord
	ctx, cancel := context.WithCancel(context.Background())
	cancelBtn := widget.NewButton("Cancel", cancel)
	prog := dialog.NewCustomWithoutButtons(title+" …", container.NewVBox(widget.NewLabel("to "+req.Out), bar, logL, cancelBtn), w.win)
	prog.Resize(fyne.NewSize(560, 220))
	prog.Show()
	w.setStatus("Exporting to %s …", req.Out)
	go func() {
		var res *ExportResult
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("internal error: %v", r)
				}
			}()
			res, err = w.opts.Export(ctx, req, func(line string) {
				do(func() { logL.SetText(line) })
			})
		}()
		cancel()
		do(func() {
			prog.Hide()
			if err != nil {
				w.showError(fmt.Errorf("%s failed: %w\nNothing was left behind in %s; fix the cause and export again", strings.ToLower(title), err, req.Out))
				return
			}
			w.showExportResult(title, res)
		})
	}()
}

func (w *Workbench) showExportResult(title string, res *ExportResult) {
	if res == nil {
		res = &ExportResult{}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Written to %s:\n", res.Out)
	for _, f := range res.Files {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	if res.Verification != "" {
		mark := "passed"
		if !res.Verified {
			mark = "NOT passed"
		}
		fmt.Fprintf(&b, "\nVerification %s: %s\n", mark, res.Verification)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(&b, "\nNote: %s", n)
	}
	lbl := widget.NewLabel(strings.TrimSpace(b.String()))
	lbl.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustom(title+": done", "OK", container.NewVScroll(lbl), w.win)
	d.Resize(fyne.NewSize(620, 360))
	d.Show()
	w.setStatus("Exported to %s", res.Out)
}
