package ui

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/driver/software"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fynetune/fynetune/app"
)

// Options are what the window gets from outside: the pieces that need cgo
// or the platform (native dialogs, the export code) are passed in, so the
// package builds and tests without them.
type Options struct {
	// Dialogs are the native file choosers; nil uses Fyne's dialogs.
	Dialogs Dialogs
	// Export writes an export; nil disables the Export menu's actions
	// (they say so).
	Export ExportFunc
	// Store persists settings and recent files; nil uses the app's
	// preferences.
	Store app.Store
	// OpenDemo writes the embedded demo to disk; nil uses app.OpenDemo.
	OpenDemo func() (*app.Demo, error)
	// Demo opens the demo at start even when a model was opened before;
	// NoDemo never opens it at start (by default it opens on the first
	// launch, when there is no recent model).
	Demo, NoDemo bool
	// E2E, when set, drives a short scripted run (see E2E).
	E2E *E2E
	// Version is shown in About.
	Version string
}

// E2E scripts the window for the end-to-end test: open the demo, start
// training, and after Steps steps write a screenshot of the window to
// Screenshot, stop the run (with its checkpoint) and quit.
type E2E struct {
	Steps      int
	Screenshot string
	// Log receives what happened (for the test's output).
	Log func(format string, args ...any)
}

// Workbench is the main window and everything in it.
type Workbench struct {
	app      fyne.App
	win      fyne.Window
	opts     Options
	settings *app.Settings

	modelDir string
	info     *app.ModelInfo
	dataPath string
	stats    *app.DataStats
	demo     *app.Demo

	tabs   *container.AppTabs
	status *widget.Label

	model  *modelPane
	data   *dataPane
	config *configPane
	train  *trainPane
	runs   *runsPane
	chat   *chatPane

	recentModels, recentData *fyne.Menu
	mainMenu                 *fyne.MainMenu
	quitting                 bool
}

// Run opens the workbench window on a and runs the app until it quits.
func Run(a fyne.App, opts Options) {
	w := New(a, opts)
	w.win.ShowAndRun()
}

// New builds the workbench window (not shown yet).
func New(a fyne.App, opts Options) *Workbench {
	if opts.Store == nil {
		opts.Store = a.Preferences()
	}
	if opts.OpenDemo == nil {
		opts.OpenDemo = app.OpenDemo
	}
	w := &Workbench{app: a, opts: opts, settings: app.NewSettings(opts.Store)}
	w.win = a.NewWindow("Fynetune")
	w.win.SetMaster()
	w.status = widget.NewLabel("")
	w.status.Truncation = fyne.TextTruncateEllipsis

	w.model = newModelPane(w)
	w.data = newDataPane(w)
	w.config = newConfigPane(w)
	w.train = newTrainPane(w)
	w.runs = newRunsPane(w)
	w.chat = newChatPane(w)
	w.tabs = container.NewAppTabs(
		container.NewTabItemWithIcon("Model", theme.ComputerIcon(), w.model.content),
		container.NewTabItemWithIcon("Dataset", theme.DocumentIcon(), w.data.content),
		container.NewTabItemWithIcon("Configure", theme.SettingsIcon(), w.config.content),
		container.NewTabItemWithIcon("Train", theme.MediaPlayIcon(), w.train.content),
		container.NewTabItemWithIcon("Runs", theme.ListIcon(), w.runs.content),
		container.NewTabItemWithIcon("Chat", theme.MailComposeIcon(), w.chat.content),
	)
	w.tabs.OnSelected = func(t *container.TabItem) {
		if t.Text == "Runs" {
			w.runs.refresh()
		}
	}
	w.win.SetContent(container.NewBorder(nil, container.NewVBox(widget.NewSeparator(), w.status), nil, nil, w.tabs))
	w.buildMenus()
	w.win.SetOnDropped(w.dropped)
	w.win.SetCloseIntercept(w.closeRequested)
	w.win.Resize(fyne.NewSize(1180, 780))
	a.Settings().AddListener(func(fyne.Settings) {
		// light/dark switch: charts follow the theme
		w.train.charts.Trigger()
		w.runs.chart.Trigger()
	})

	if c, ok := w.settings.Config(); ok {
		w.config.set(c)
	}
	switch {
	case opts.E2E != nil || opts.Demo || (!opts.NoDemo && len(w.settings.RecentModels()) == 0):
		w.openDemo(opts.E2E != nil)
	case len(w.settings.RecentModels()) > 0:
		w.setModel(w.settings.RecentModels()[0])
		if d := w.settings.RecentData(); len(d) > 0 {
			w.setData(d[0])
		}
	}
	if opts.E2E != nil {
		w.runE2E()
	}
	return w
}

// Window returns the window.
func (w *Workbench) Window() fyne.Window { return w.win }

// ---- status and errors ----

// setStatus shows a note in the status bar.
func (w *Workbench) setStatus(format string, args ...any) {
	w.status.SetText(fmt.Sprintf(format, args...))
	w.status.Importance = widget.MediumImportance
	w.status.Refresh()
}

// showError shows an error in the window (a dialog and the status bar);
// it never goes only to stderr. Call on the UI goroutine.
func (w *Workbench) showError(err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	w.status.SetText("Error: " + firstLine(msg))
	w.status.Importance = widget.DangerImportance
	w.status.Refresh()
	if w.opts.E2E != nil && w.opts.E2E.Log != nil {
		w.opts.E2E.Log("error: %s", msg)
	}
	lbl := widget.NewLabel(msg)
	lbl.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustom("Something went wrong", "OK", container.NewVScroll(lbl), w.win)
	d.Resize(fyne.NewSize(560, 240))
	d.Show()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// background runs work off the UI goroutine; an error (or a panic) is
// shown in the window.
func (w *Workbench) background(what string, work func() error) {
	go func() {
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("internal error: %v", r)
				}
			}()
			err = work()
		}()
		if err != nil {
			do(func() { w.showError(fmt.Errorf("%s: %w", what, err)) })
		}
	}()
}

// ---- model and dataset ----

// openDemo writes the embedded demo to disk and opens its model, dataset
// and settings. With sync it does so before returning (the E2E script).
func (w *Workbench) openDemo(sync bool) {
	load := func() (*app.Demo, error) { return w.opts.OpenDemo() }
	apply := func(d *app.Demo) {
		w.demo = d
		w.config.set(d.Config)
		w.setModel(d.Model)
		w.setData(d.Data)
		w.chat.setSamples(d.Prompts)
		w.setStatus("Demo opened: a small model Fynetune pretrained itself and a dataset that teaches it to talk like a pirate. Press Train the demo.")
	}
	if sync {
		d, err := load()
		if err != nil {
			w.showError(fmt.Errorf("opening the demo: %w", err))
			return
		}
		apply(d)
		return
	}
	w.background("opening the demo", func() error {
		d, err := load()
		if err != nil {
			return err
		}
		do(func() { apply(d) })
		return nil
	})
}

// setModel inspects a model folder off the UI goroutine and shows it.
func (w *Workbench) setModel(dir string) {
	w.model.loading(dir)
	go func() {
		info, err := app.Inspect(dir)
		do(func() {
			if err != nil {
				w.model.failed(dir, err)
				w.showError(fmt.Errorf("opening model %s: %w\nOpen a Hugging Face model folder (config.json, model.safetensors, tokenizer.json), or File > Open demo", dir, err))
				return
			}
			w.modelDir = dir
			w.settings.AddRecentModel(dir)
			w.updateRecentMenus()
			w.model.show(info)
			w.info = info
			w.config.setModules(info.LinearModules)
			w.config.updateEstimate()
			w.chat.modelChanged()
			w.setStatus("Model %s: %s, %s parameters", filepath.Base(dir), info.Architecture, formatCount(info.Params))
			if w.dataPath != "" {
				w.setData(w.dataPath)
			}
		})
	}()
}

// setData reads a dataset with the current model's tokenizer and settings.
func (w *Workbench) setData(path string) {
	w.dataPath = path
	w.data.loading(path)
	if w.modelDir == "" {
		w.data.failed(path, nil, errors.New("open a model first: the dataset is tokenized with the model's tokenizer"))
		return
	}
	cfg, _ := w.config.get()
	modelDir := w.modelDir
	go func() {
		st, err := app.InspectDataset(path, modelDir, cfg, 3)
		do(func() {
			if path != w.dataPath {
				return // another dataset was opened meanwhile
			}
			if err != nil {
				w.stats = nil
				w.data.failed(path, st, err)
				w.setStatus("Dataset %s cannot be used: %s", filepath.Base(path), firstLine(err.Error()))
				return
			}
			w.settings.AddRecentData(path)
			w.updateRecentMenus()
			w.data.show(st)
			w.stats = st
			w.config.updateEstimate()
			msg := fmt.Sprintf("Dataset %s: %s, %d training rows", filepath.Base(path), st.Format, st.TrainExamples)
			if len(st.Bad) > 0 {
				msg += fmt.Sprintf(", %d bad records skipped (see the Dataset tab)", len(st.Bad))
			}
			w.setStatus("%s", msg)
		})
	}()
}

// dropped opens what was dropped on the window: a model folder (or a file
// inside one) or a dataset file.
func (w *Workbench) dropped(_ fyne.Position, uris []fyne.URI) {
	for _, u := range uris {
		p := u.Path()
		st, err := os.Stat(p)
		if err != nil {
			w.showError(fmt.Errorf("dropped %s: %w", p, err))
			return
		}
		switch {
		case st.IsDir():
			w.setModel(p)
			w.tabs.SelectIndex(0)
		case isModelFile(p):
			w.setModel(filepath.Dir(p))
			w.tabs.SelectIndex(0)
		case strings.HasSuffix(strings.ToLower(p), ".toml"):
			w.loadSettings(p)
		default:
			w.setData(p)
			w.tabs.SelectIndex(1)
		}
		return
	}
}

func isModelFile(p string) bool {
	b := strings.ToLower(filepath.Base(p))
	return b == "config.json" || b == "tokenizer.json" || strings.HasSuffix(b, ".safetensors") || strings.HasSuffix(b, ".gguf")
}

// ---- settings files ----

func (w *Workbench) loadSettings(path string) {
	c, err := app.LoadRunConfig(path)
	if err != nil {
		w.showError(fmt.Errorf("loading settings: %w", err))
		return
	}
	w.config.set(c)
	if c.Model != "" && c.Model != w.modelDir {
		w.setModel(c.Model)
	}
	if c.Data != "" && c.Data != w.dataPath {
		w.setData(c.Data)
	}
	w.setStatus("Settings loaded from %s", path)
}

func (w *Workbench) saveSettings(path string) {
	c, err := w.runConfig(false)
	if err != nil {
		w.showError(err)
		return
	}
	if err := app.SaveRunConfig(path, c); err != nil {
		w.showError(fmt.Errorf("saving settings: %w", err))
		return
	}
	w.setStatus("Settings saved to %s (use with: fynetune train --config %s)", path, path)
}

// runConfig is the configuration of a new run from the panes; with check,
// a model and a dataset must be chosen and the settings must be valid.
func (w *Workbench) runConfig(check bool) (app.RunConfig, error) {
	c, err := w.config.get()
	if err != nil {
		return c, err
	}
	c.Model, c.Data = w.modelDir, w.dataPath
	if !check {
		return c, nil
	}
	if c.Model == "" {
		return c, errors.New("no model: open a model folder (File > Open model…) or the demo")
	}
	if c.Data == "" {
		return c, errors.New("no dataset: open a dataset file (File > Open dataset…)")
	}
	c.Out = app.NewRunDir(w.settings.RunsDir(), c.Model, c.Data, time.Now())
	return c, c.Check()
}

// ---- menus ----

func shortcut(k fyne.KeyName, mod fyne.KeyModifier) fyne.Shortcut {
	return &desktop.CustomShortcut{KeyName: k, Modifier: fyne.KeyModifierShortcutDefault | mod}
}

func (w *Workbench) buildMenus() {
	item := func(label string, sc fyne.Shortcut, fn func()) *fyne.MenuItem {
		it := fyne.NewMenuItem(label, fn)
		it.Shortcut = sc
		return it
	}
	w.recentModels = fyne.NewMenu("Recent models")
	w.recentData = fyne.NewMenu("Recent datasets")
	recentM := fyne.NewMenuItem("Recent models", nil)
	recentM.ChildMenu = w.recentModels
	recentD := fyne.NewMenuItem("Recent datasets", nil)
	recentD.ChildMenu = w.recentData
	quit := item("Quit", shortcut(fyne.KeyQ, 0), func() { w.closeRequested() })
	quit.IsQuit = true
	file := fyne.NewMenu("File",
		item("Open model…", shortcut(fyne.KeyO, 0), w.model.openDialog),
		item("Open dataset…", shortcut(fyne.KeyD, 0), w.data.openDialog),
		item("Open demo", nil, func() { w.openDemo(false) }),
		recentM, recentD,
		fyne.NewMenuItemSeparator(),
		item("Load settings…", nil, w.config.loadDialog),
		item("Save settings…", shortcut(fyne.KeyS, 0), w.config.saveDialog),
		fyne.NewMenuItemSeparator(),
		quit,
	)
	run := fyne.NewMenu("Run",
		item("Start", shortcut(fyne.KeyReturn, 0), w.train.start),
		item("Pause", shortcut(fyne.KeyP, 0), w.train.pause),
		item("Stop (save checkpoint)", shortcut(fyne.KeyPeriod, 0), w.train.stop),
		item("Resume", shortcut(fyne.KeyR, 0), w.train.resume),
		fyne.NewMenuItemSeparator(),
		item("Train the demo", nil, w.train.trainDemo),
	)
	export := fyne.NewMenu("Export",
		item("Adapter (PEFT)…", shortcut(fyne.KeyE, 0), func() { w.exportAction(ExportPEFT) }),
		item("Merged model (safetensors)…", shortcut(fyne.KeyM, fyne.KeyModifierShift), func() { w.exportAction(ExportMerged) }),
		item("GGUF…", shortcut(fyne.KeyG, fyne.KeyModifierShift), func() { w.exportAction(ExportGGUF) }),
		item("GGUF adapter…", nil, func() { w.exportAction(ExportGGUFAdapter) }),
	)
	help := fyne.NewMenu("Help",
		item("Keyboard shortcuts", shortcut(fyne.KeySlash, 0), w.showShortcuts),
		item("About Fynetune", nil, w.showAbout),
	)
	w.mainMenu = fyne.NewMainMenu(file, run, export, help)
	w.updateRecentMenus()
	w.win.SetMainMenu(w.mainMenu)
	// Ctrl+Enter in the chat prompt sends it; the window-wide one starts
	// training. Tab switching:
	for i := range 6 {
		k := fyne.KeyName(fmt.Sprint(i + 1))
		idx := i
		w.win.Canvas().AddShortcut(&desktop.CustomShortcut{KeyName: k, Modifier: fyne.KeyModifierAlt}, func(fyne.Shortcut) { w.tabs.SelectIndex(idx) })
	}
}

func (w *Workbench) updateRecentMenus() {
	if w.recentModels == nil {
		return
	}
	fill := func(m *fyne.Menu, list []string, open func(string)) {
		m.Items = nil
		for _, p := range list {
			p := p
			m.Items = append(m.Items, fyne.NewMenuItem(p, func() { open(p) }))
		}
		if len(m.Items) == 0 {
			none := fyne.NewMenuItem("(none yet)", nil)
			none.Disabled = true
			m.Items = append(m.Items, none)
		}
	}
	fill(w.recentModels, w.settings.RecentModels(), w.setModel)
	fill(w.recentData, w.settings.RecentData(), w.setData)
	w.model.setRecent(w.settings.RecentModels())
	w.data.setRecent(w.settings.RecentData())
	if w.mainMenu != nil {
		w.mainMenu.Refresh()
	}
}

// shortcutsText lists the keyboard shortcuts for Help.
const shortcutsText = `Ctrl+O	Open model folder
Ctrl+D	Open dataset
Ctrl+S	Save settings
Ctrl+Enter	Start training
Ctrl+P	Pause
Ctrl+.	Stop (saves a checkpoint)
Ctrl+R	Resume
Ctrl+E	Export adapter (PEFT)
Ctrl+Shift+M	Export merged model
Ctrl+Shift+G	Export GGUF
Alt+1 … Alt+6	Model, Dataset, Configure, Train, Runs, Chat
Ctrl+Q	Quit
(Cmd instead of Ctrl on macOS)`

func (w *Workbench) showShortcuts() {
	lbl := widget.NewLabel(shortcutsText)
	lbl.TextStyle.Monospace = true
	dialog.ShowCustom("Keyboard shortcuts", "Close", lbl, w.win)
}

func (w *Workbench) showAbout() {
	v := w.opts.Version
	if v == "" {
		v = w.app.Metadata().Version
	}
	txt := fmt.Sprintf("Fynetune %s\n\nLoRA and QLoRA fine-tuning of language models on your own machine.\nThe same engine runs headless: fynetune train --config settings.toml\n\nRuns are kept in %s", v, w.settings.RunsDir())
	dialog.ShowInformation("About Fynetune", txt, w.win)
}

// ---- closing ----

// closeRequested asks, while a run is training, whether to stop it (with a
// checkpoint) or keep it training in the background with the window hidden.
func (w *Workbench) closeRequested() {
	j := w.train.job
	if j == nil || !j.State().Active() {
		w.quit()
		return
	}
	msg := widget.NewLabel("A run is training. Stop it (a checkpoint is saved, so it can be resumed from the Runs tab),\nor keep it training in the background and quit when it ends?")
	d := dialog.NewCustomConfirm("Training is running", "Stop and quit", "Keep training", msg, func(stop bool) {
		if stop {
			w.setStatus("Stopping: saving a checkpoint…")
			j.Stop()
			go func() {
				<-j.Done()
				do(w.quit)
			}()
			return
		}
		w.win.Hide()
		go func() {
			<-j.Done()
			do(w.quit)
		}()
	}, w.win)
	d.Show()
}

func (w *Workbench) quit() {
	if w.quitting {
		return
	}
	w.quitting = true
	w.chat.close()
	w.app.Quit()
}

// ---- end-to-end script ----

// screenshot captures the window with Canvas().Capture(). Some OpenGL
// stacks (software rendering under Xvfb) return a blank front buffer; then
// it tries again, and last renders the window's content with Fyne's
// software painter. It says which way the image was made. Call it off the
// UI goroutine.
func (w *Workbench) screenshot() (image.Image, string) {
	for try := 0; try < 5; try++ {
		var img image.Image
		doAndWait(func() { img = w.win.Canvas().Capture() })
		if img != nil && colours(img, 8) >= 8 {
			return img, "Canvas().Capture()"
		}
		time.Sleep(300 * time.Millisecond)
	}
	var img image.Image
	doAndWait(func() {
		c := w.win.Canvas()
		img = software.Render(c.Content(), w.app.Settings().Theme())
	})
	return img, "software painter (Capture returned a blank image)"
}

// colours counts the distinct colours of img, up to limit.
func colours(img image.Image, limit int) int {
	seen := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bb, a := img.At(x, y).RGBA()
			seen[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bb >> 8), uint8(a >> 8)}] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}

func (w *Workbench) runE2E() {
	e := w.opts.E2E
	logf := func(f string, a ...any) {
		if e.Log != nil {
			e.Log(f, a...)
		}
	}
	steps := max(e.Steps, 1)
	go func() {
		// wait for the model and the dataset to be read
		deadline := time.Now().Add(2 * time.Minute)
		ready := func() bool {
			ok := false
			doAndWait(func() { ok = w.info != nil && w.stats != nil })
			return ok
		}
		for !ready() {
			if time.Now().After(deadline) {
				logf("e2e: the demo did not open")
				do(w.quit)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		doAndWait(func() {
			w.tabs.SelectIndex(3)
			w.train.start()
		})
		var j *app.Job
		doAndWait(func() { j = w.train.job })
		if j == nil {
			logf("e2e: training did not start")
			do(w.quit)
			return
		}
		logf("e2e: training %s", j.Config().Out)
		for j.Progress().Step < steps && j.State().Active() {
			if time.Now().After(deadline) {
				logf("e2e: no progress")
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		logf("e2e: step %d, state %s", j.Progress().Step, j.State())
		// let the throttled chart and labels catch up
		time.Sleep(2 * chartInterval)
		w.train.refreshNow()
		time.Sleep(2 * chartInterval)
		if e.Screenshot != "" {
			img, how := w.screenshot()
			if err := writePNG(e.Screenshot, img); err != nil {
				logf("e2e: screenshot: %v", err)
			} else {
				logf("e2e: screenshot %s (%s, %dx%d)", e.Screenshot, how, img.Bounds().Dx(), img.Bounds().Dy())
			}
		}
		if j.State().Active() {
			j.Stop()
			<-j.Done()
		}
		logf("e2e: done, state %s", j.State())
		do(w.quit)
	}()
}
