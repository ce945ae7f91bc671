package ui

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fynetune/fynetune/app"
)

// modelPane shows the open model: architecture, parameters, sizes at each
// bit-width, tokenizer and chat template.
type modelPane struct {
	w       *Workbench
	content fyne.CanvasObject
	title   *widget.Label
	form    *widget.Form
	fields  map[string]*widget.Label
	recent  *widget.Select
	modules *widget.Label
}

// The rows of the model pane, in order.
var modelFields = []string{"Folder", "Architecture", "Shape", "Context", "Parameters", "Size on disk",
	"At 16 bits", "At 8 bits", "At 4 bits", "Tokenizer", "Chat template", "LoRA targets"}

func newModelPane(w *Workbench) *modelPane {
	p := &modelPane{w: w, fields: map[string]*widget.Label{}}
	p.title = widget.NewLabelWithStyle("No model open", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	p.form = widget.NewForm()
	for _, f := range modelFields {
		l := widget.NewLabel("—")
		l.Wrapping = fyne.TextWrapWord
		p.fields[f] = l
		p.form.Append(f, l)
	}
	open := widget.NewButtonWithIcon("Open model folder…", theme.FolderOpenIcon(), p.openDialog)
	open.Importance = widget.HighImportance
	demo := widget.NewButtonWithIcon("Open demo", theme.HomeIcon(), func() { w.openDemo(false) })
	p.recent = widget.NewSelect(nil, func(s string) {
		if s != "" && s != w.modelDir {
			w.setModel(s)
		}
	})
	p.recent.PlaceHolder = "Recent models"
	hint := widget.NewLabel("Open a Hugging Face model folder (config.json, model.safetensors, tokenizer.json), or drop one on the window.")
	hint.Wrapping = fyne.TextWrapWord
	top := container.NewVBox(container.NewHBox(open, demo), p.recent, hint, widget.NewSeparator(), p.title)
	p.content = container.NewBorder(top, nil, nil, nil, container.NewVScroll(p.form))
	return p
}

func (p *modelPane) openDialog() {
	start := p.w.modelDir
	if start != "" {
		start = filepath.Dir(start)
	}
	p.w.choose(chooseFolder, "Open model folder", start, "", nil, p.w.setModel)
}

func (p *modelPane) setRecent(list []string) {
	p.recent.Options = list
	p.recent.Refresh()
}

func (p *modelPane) loading(dir string) {
	p.title.SetText("Reading " + dir + " …")
}

func (p *modelPane) failed(dir string, err error) {
	p.title.SetText("Cannot open " + filepath.Base(dir) + ": " + firstLine(err.Error()))
}

func (p *modelPane) show(info *app.ModelInfo) {
	p.title.SetText(filepath.Base(info.Dir))
	set := func(k, v string) { p.fields[k].SetText(v) }
	set("Folder", info.Dir)
	set("Architecture", fmt.Sprintf("%s (%s family)", info.ModelType, info.Architecture))
	shape := fmt.Sprintf("%d layers, hidden %d, %d heads (%d key/value) of %d, MLP %d, vocabulary %d",
		info.Layers, info.Hidden, info.Heads, info.KVHeads, info.HeadDim, info.FFN, info.Vocab)
	if info.TiedHead {
		shape += ", tied head"
	}
	set("Shape", shape)
	set("Context", fmt.Sprintf("%d tokens", info.Context))
	var dts []string
	for k, v := range info.DTypes {
		dts = append(dts, fmt.Sprintf("%s %s", formatCount(v), k))
	}
	sort.Strings(dts)
	set("Parameters", fmt.Sprintf("%s (%s)", formatCount(info.Params), strings.Join(dts, ", ")))
	set("Size on disk", fmt.Sprintf("%s in %s", app.FormatBytes(info.BytesOnDisk), strings.Join(info.Files, ", ")))
	for _, b := range []int{16, 8, 4} {
		set(fmt.Sprintf("At %d bits", b), app.FormatBytes(app.WeightBytes(info, b)))
	}
	set("Tokenizer", fmt.Sprintf("%s, %d tokens", info.TokenizerKind, info.TokenizerVocab))
	if info.HasChatTemplate {
		set("Chat template", "yes (used for chat datasets and the chat pane)")
	} else {
		set("Chat template", "none (prompts are used as they are)")
	}
	set("LoRA targets", strings.Join(info.LinearModules, ", "))
}

// formatCount writes a count with a unit: 1.2K, 3.4M, 7.0B.
func formatCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// writePNG writes an image to a PNG file.
func writePNG(path string, img image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
