package ui

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fynetune/fynetune/app"
)

// configPane edits the settings of the next run and shows their memory
// estimate.
type configPane struct {
	w       *Workbench
	content fyne.CanvasObject
	base    app.RunConfig // the settings without a widget (optimizer, eval, ...)

	rank, alpha, dropout, lr, warmup, epochs, steps *widget.Entry
	batch, accum, seqLen, seed, valid               *widget.Entry
	targets                                         *widget.CheckGroup
	bits                                            *widget.RadioGroup
	recompute                                       *widget.Check
	schedule, backend                               *widget.Select
	device                                          *widget.Label // the device and driver Auto picks
	estimate, warning, bitsNote                     *widget.Label

	setting bool // set() is filling the widgets: no change events
}

// backendLabels maps the backend choice shown to the setting.
var backendLabels = map[string]string{"Auto": "auto", "GPU": "gpu", "CPU": "cpu"}

func newConfigPane(w *Workbench) *configPane {
	p := &configPane{w: w, base: app.DefaultRunConfig()}
	entry := func() *widget.Entry {
		e := widget.NewEntry()
		e.OnChanged = func(string) { p.changed() }
		return e
	}
	p.rank, p.alpha, p.dropout, p.lr, p.warmup = entry(), entry(), entry(), entry(), entry()
	p.epochs, p.steps, p.batch, p.accum, p.seqLen, p.seed, p.valid = entry(), entry(), entry(), entry(), entry(), entry(), entry()
	p.targets = widget.NewCheckGroup(nil, func([]string) { p.changed() })
	p.targets.Horizontal = true
	p.bits = widget.NewRadioGroup([]string{"16", "8", "4"}, func(string) { p.changed() })
	p.bits.Horizontal = true
	p.bits.Required = true
	p.recompute = widget.NewCheck("Recompute activations in backward (less memory, about a third slower)", func(bool) { p.changed() })
	p.schedule = widget.NewSelect(app.Schedules, func(string) { p.changed() })
	p.backend = widget.NewSelect([]string{"Auto", "GPU", "CPU"}, func(string) { p.changed() })
	p.device = widget.NewLabel("")
	p.device.Wrapping = fyne.TextWrapWord
	p.device.Importance = widget.LowImportance
	go func() {
		// Opening the GPU context takes a moment: off the UI goroutine.
		text := "Auto uses: "
		if be, note, err := app.ChooseBackend("auto"); err != nil {
			text += err.Error()
		} else {
			text += be.Name()
			if note != "" {
				text += " — " + note
			}
		}
		do(func() { p.device.SetText(text) })
	}()
	p.estimate = widget.NewLabel("")
	p.estimate.Wrapping = fyne.TextWrapWord
	p.warning = widget.NewLabel("")
	p.warning.Wrapping = fyne.TextWrapWord
	p.warning.Importance = widget.DangerImportance
	p.bitsNote = widget.NewLabel("16 keeps the checkpoint's weights; 8 is int8, 4 is NF4 (QLoRA): less memory, a little less precision.")
	p.bitsNote.Wrapping = fyne.TextWrapWord
	p.bitsNote.Importance = widget.LowImportance

	attn := widget.NewButton("Attention", func() { p.preset(false) })
	all := widget.NewButton("All linear", func() { p.preset(true) })
	form := widget.NewForm(
		widget.NewFormItem("Rank", p.rank),
		widget.NewFormItem("Alpha", p.alpha),
		widget.NewFormItem("Dropout", p.dropout),
		widget.NewFormItem("Target modules", container.NewVBox(p.targets, container.NewHBox(widget.NewLabel("Presets:"), attn, all))),
		widget.NewFormItem("Frozen weights (bits)", container.NewVBox(p.bits, p.bitsNote)),
		widget.NewFormItem("Activation memory", p.recompute),
		widget.NewFormItem("Learning rate", p.lr),
		widget.NewFormItem("Schedule", p.schedule),
		widget.NewFormItem("Warm-up steps", p.warmup),
		widget.NewFormItem("Epochs", p.epochs),
		widget.NewFormItem("Steps (0: epochs)", p.steps),
		widget.NewFormItem("Batch", p.batch),
		widget.NewFormItem("Gradient accumulation", p.accum),
		widget.NewFormItem("Max length (tokens)", p.seqLen),
		widget.NewFormItem("Seed", p.seed),
		widget.NewFormItem("Validation split", p.valid),
		widget.NewFormItem("Backend", container.NewVBox(p.backend, p.device)),
	)
	save := widget.NewButtonWithIcon("Save settings…", theme.DocumentSaveIcon(), p.saveDialog)
	load := widget.NewButtonWithIcon("Load settings…", theme.FolderOpenIcon(), p.loadDialog)
	reset := widget.NewButtonWithIcon("Defaults", theme.ContentUndoIcon(), func() {
		c := app.DefaultRunConfig()
		if p.w.demo != nil && p.w.modelDir == p.w.demo.Model {
			c = p.w.demo.Config
		}
		p.set(c)
	})
	memTitle := widget.NewLabelWithStyle("Memory estimate", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	top := container.NewVBox(container.NewHBox(save, load, reset), memTitle, p.estimate, p.warning, widget.NewSeparator())
	p.content = container.NewBorder(top, nil, nil, nil, container.NewVScroll(form))
	p.set(p.base)
	p.bits.SetSelected("16")
	return p
}

// set fills the widgets from a configuration.
func (p *configPane) set(c app.RunConfig) {
	p.setting = true
	defer func() {
		p.setting = false
		p.changed()
	}()
	p.base = c
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	p.rank.SetText(strconv.Itoa(c.Rank))
	p.alpha.SetText(f(c.Alpha))
	p.dropout.SetText(f(c.Dropout))
	p.lr.SetText(f(c.LR))
	p.warmup.SetText(strconv.Itoa(c.Warmup))
	p.epochs.SetText(strconv.Itoa(c.Epochs))
	p.steps.SetText(strconv.Itoa(c.Steps))
	p.batch.SetText(strconv.Itoa(c.Batch))
	p.accum.SetText(strconv.Itoa(c.GradAccum))
	p.seqLen.SetText(strconv.Itoa(c.SeqLen))
	p.seed.SetText(strconv.FormatUint(c.Seed, 10))
	p.valid.SetText(f(c.ValidSplit))
	p.schedule.SetSelected(c.Schedule)
	for label, v := range backendLabels {
		if v == c.Backend || (c.Backend == "" && v == "auto") {
			p.backend.SetSelected(label)
		}
	}
	p.addTargetOptions(c.Targets)
	p.targets.SetSelected(slices.Clone(c.Targets))
	p.setBits(c.Bits)
	p.recompute.SetChecked(c.Recompute)
}

// setBits selects a bit-width (16 for anything else).
func (p *configPane) setBits(b int) {
	if b != 8 && b != 4 {
		b = 16
	}
	p.bits.SetSelected(strconv.Itoa(b))
}

// bitWidth is the selected bit-width.
func (p *configPane) bitWidth() int {
	b, err := strconv.Atoi(p.bits.Selected)
	if err != nil {
		return 16
	}
	return b
}

// addTargetOptions makes sure every name is a checkbox.
func (p *configPane) addTargetOptions(names []string) {
	for _, n := range names {
		if n != "" && !slices.Contains(p.targets.Options, n) {
			p.targets.Options = append(p.targets.Options, n)
		}
	}
	p.targets.Refresh()
}

// setModules shows the model's own module names as the target checkboxes,
// keeping the choices that still apply.
func (p *configPane) setModules(mods []string) {
	keep := []string{}
	for _, s := range p.targets.Selected {
		if slices.Contains(mods, s) || s == "all-linear" {
			keep = append(keep, s)
		}
	}
	p.targets.Options = slices.Clone(mods)
	if len(keep) == 0 {
		for _, d := range []string{"q_proj", "v_proj"} {
			if slices.Contains(mods, d) {
				keep = append(keep, d)
			}
		}
		if len(keep) == 0 && len(mods) > 0 {
			keep = append(keep, mods[0])
		}
	}
	if slices.Contains(keep, "all-linear") {
		keep = slices.Clone(mods)
	}
	p.targets.Refresh()
	p.targets.SetSelected(keep)
}

// preset selects the attention projections, or every linear module.
func (p *configPane) preset(all bool) {
	var sel []string
	for _, o := range p.targets.Options {
		if all || isAttention(o) {
			sel = append(sel, o)
		}
	}
	p.targets.SetSelected(sel)
}

func isAttention(name string) bool {
	switch name {
	case "q_proj", "k_proj", "v_proj", "o_proj", "c_attn":
		return true
	}
	return false
}

// get reads the widgets over the base configuration; a field that is not
// a number is an error naming it.
func (p *configPane) get() (app.RunConfig, error) {
	c := p.base
	var errs []string
	i := func(name string, e *widget.Entry, dst *int) {
		v, err := strconv.Atoi(strings.TrimSpace(e.Text))
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %q is not a whole number", name, e.Text))
			return
		}
		*dst = v
	}
	f := func(name string, e *widget.Entry, dst *float64) {
		v, err := strconv.ParseFloat(strings.TrimSpace(e.Text), 64)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %q is not a number", name, e.Text))
			return
		}
		*dst = v
	}
	i("Rank", p.rank, &c.Rank)
	f("Alpha", p.alpha, &c.Alpha)
	f("Dropout", p.dropout, &c.Dropout)
	f("Learning rate", p.lr, &c.LR)
	i("Warm-up steps", p.warmup, &c.Warmup)
	i("Epochs", p.epochs, &c.Epochs)
	i("Steps", p.steps, &c.Steps)
	i("Batch", p.batch, &c.Batch)
	i("Gradient accumulation", p.accum, &c.GradAccum)
	i("Max length", p.seqLen, &c.SeqLen)
	if s, err := strconv.ParseUint(strings.TrimSpace(p.seed.Text), 10, 64); err != nil {
		errs = append(errs, fmt.Sprintf("Seed: %q is not a whole number ≥ 0", p.seed.Text))
	} else {
		c.Seed = s
	}
	f("Validation split", p.valid, &c.ValidSplit)
	if p.schedule.Selected != "" {
		c.Schedule = p.schedule.Selected
	}
	if b, ok := backendLabels[p.backend.Selected]; ok {
		c.Backend = b
	}
	c.Targets = slices.Clone(p.targets.Selected)
	if len(c.Targets) == 0 {
		errs = append(errs, "Target modules: tick at least one")
	}
	c.Bits = p.bitWidth()
	c.Recompute = p.recompute.Checked
	if len(errs) > 0 {
		return c, fmt.Errorf("settings: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// changed updates the estimate and remembers the settings.
func (p *configPane) changed() {
	if p.setting {
		return
	}
	p.updateEstimate()
	if c, err := p.get(); err == nil {
		p.w.settings.SetConfig(c)
	}
}

// updateEstimate recomputes the memory estimate for the settings.
func (p *configPane) updateEstimate() {
	defer func() {
		if p.warning.Text == "" {
			p.warning.Hide()
		} else {
			p.warning.Show()
		}
	}()
	info := p.w.info
	if info == nil {
		p.estimate.SetText("Open a model to see how much memory these settings need.")
		p.warning.SetText("")
		return
	}
	c, err := p.get()
	if err != nil {
		p.estimate.SetText("")
		p.warning.SetText(err.Error())
		return
	}
	e, err := app.EstimateMemory(info, c)
	if err != nil {
		p.estimate.SetText("")
		p.warning.SetText(err.Error())
		return
	}
	p.estimate.SetText(e.String())
	if !e.Fits() {
		p.warning.SetText(fmt.Sprintf("This needs more than the %s of free memory: lower the batch or the max length, use gradient accumulation, or 4-bit weights.", app.FormatBytes(e.Free)))
	} else {
		p.warning.SetText("")
	}
}

func (p *configPane) saveDialog() {
	start := p.w.settings.RunsDir()
	p.w.choose(chooseSave, "Save settings", start, "settings.toml", nil, func(path string) {
		if filepath.Ext(path) == "" {
			path += ".toml"
		}
		p.w.saveSettings(path)
	})
}

func (p *configPane) loadDialog() {
	p.w.choose(chooseFile, "Load settings", p.w.settings.RunsDir(), "", []string{"toml"}, p.w.loadSettings)
}
