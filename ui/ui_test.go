package ui

import (
	"bytes"
	"context"
	"image"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/fynetune/fynetune/app"
	"github.com/fynetune/fynetune/assets"
)

// fakeDialogs answers every chooser with a fixed path and records the calls.
type fakeDialogs struct {
	mu    sync.Mutex
	path  map[chooseKind]string
	calls []string
}

func (f *fakeDialogs) answer(kind chooseKind, what string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, what)
	if p := f.path[kind]; p != "" {
		return p, nil
	}
	return "", ErrCancelled
}

func (f *fakeDialogs) set(kind chooseKind, p string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.path[kind] = p
}

func (f *fakeDialogs) OpenFolder(title, _ string) (string, error) {
	return f.answer(chooseFolder, "folder:"+title)
}
func (f *fakeDialogs) OpenFile(title, _ string, _ ...string) (string, error) {
	return f.answer(chooseFile, "file:"+title)
}
func (f *fakeDialogs) SaveFile(title, _, _ string) (string, error) {
	return f.answer(chooseSave, "save:"+title)
}

// fakeExport records export requests.
type fakeExport struct {
	mu   sync.Mutex
	reqs []ExportRequest
}

func (f *fakeExport) export(_ context.Context, req ExportRequest, log func(string)) (*ExportResult, error) {
	log("writing")
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	return &ExportResult{Out: req.Out, Files: []string{"adapter_model.safetensors (1 KiB)"}, Verified: true, Verification: "max logit difference 0"}, nil
}

func (f *fakeExport) requests() []ExportRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ExportRequest(nil), f.reqs...)
}

type bench struct {
	w      *Workbench
	dlg    *fakeDialogs
	exp    *fakeExport
	demo   *app.Demo
	runs   string
	events []string
}

// newBench opens the workbench on a test app with the demo, fake dialogs
// and a fake export, and waits for the demo to be read.
func newBench(t *testing.T) *bench {
	t.Helper()
	a := test.NewTempApp(t)
	cache := t.TempDir()
	b := &bench{dlg: &fakeDialogs{path: map[chooseKind]string{}}, exp: &fakeExport{}, runs: t.TempDir()}
	store := &app.MemStore{}
	app.NewSettings(store).SetRunsDir(b.runs)
	d, err := app.ExtractDemo(assets.Demo, cache)
	if err != nil {
		t.Fatal(err)
	}
	b.demo = d
	locked(func() {
		b.w = New(a, Options{Dialogs: b.dlg, Export: b.exp.export, Store: store,
			OpenDemo: func() (*app.Demo, error) { return app.ExtractDemo(assets.Demo, cache) }})
	})
	locked(func() { b.w.win.Resize(fyne.NewSize(1100, 760)) })
	locked(func() { b.w.win.Show() })
	t.Cleanup(func() {
		if j := b.w.train.currentJob(); j != nil && j.State().Active() {
			j.Stop()
			<-j.Done()
		}
		b.w.chat.close()
	})
	waitFor(t, "the demo model and dataset", func() bool {
		var ok bool
		locked(func() { ok = b.w.info != nil && b.w.stats != nil })
		return ok
	})
	return b
}

// locked runs f holding the UI lock, as the window's own updates do.
func locked(f func()) {
	uiMu.Lock()
	defer uiMu.Unlock()
	f()
}

// waitFor polls cond until it holds; the generous limit only keeps a
// broken window from hanging the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// findButton finds a button by its text in an object tree.
func findButton(o fyne.CanvasObject, text string) *widget.Button {
	for _, c := range test.LaidOutObjects(o) {
		if b, ok := c.(*widget.Button); ok && b.Text == text {
			return b
		}
	}
	return nil
}

// tapInOverlay taps a button of the top dialog.
func tapInOverlay(t *testing.T, w fyne.Window, text string) {
	t.Helper()
	var b *widget.Button
	waitFor(t, "a dialog with "+text, func() bool {
		locked(func() {
			if top := w.Canvas().Overlays().Top(); top != nil {
				b = findButton(top, text)
			}
		})
		return b != nil
	})
	locked(func() { test.Tap(b) })
}

// overlayText is all the label text of the top dialog.
func overlayText(w fyne.Window) string {
	top := w.Canvas().Overlays().Top()
	if top == nil {
		return ""
	}
	var sb strings.Builder
	for _, c := range test.LaidOutObjects(top) {
		if l, ok := c.(*widget.Label); ok {
			sb.WriteString(l.Text + "\n")
		}
	}
	return sb.String()
}

func menuItem(t *testing.T, w *Workbench, menu, label string) *fyne.MenuItem {
	t.Helper()
	for _, m := range w.mainMenu.Items {
		if m.Label != menu {
			continue
		}
		for _, it := range m.Items {
			if it.Label == label {
				return it
			}
		}
	}
	t.Fatalf("no menu item %s > %s", menu, label)
	return nil
}

func pixels(img image.Image) []byte {
	if img == nil {
		return nil
	}
	if r, ok := img.(*image.RGBA); ok {
		return r.Pix
	}
	var buf bytes.Buffer
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, a := img.At(x, y).RGBA()
			buf.Write([]byte{byte(r), byte(g), byte(bb), byte(a)})
		}
	}
	return buf.Bytes()
}

func TestDemoOpens(t *testing.T) {
	b := newBench(t)
	w := b.w
	if w.modelDir != b.demo.Model || w.dataPath != b.demo.Data {
		t.Fatalf("model %q data %q, want the demo's", w.modelDir, w.dataPath)
	}
	for k, want := range map[string]string{"Architecture": "llama", "Chat template": "none", "At 4 bits": "KiB", "Tokenizer": "640 tokens"} {
		if got := w.model.fields[k].Text; !strings.Contains(got, want) {
			t.Errorf("model pane %s = %q, want it to contain %q", k, got, want)
		}
	}
	if got := w.data.fields["Format"].Text; !strings.Contains(got, "prompt-completion") {
		t.Errorf("dataset format %q", got)
	}
	// the preview shows the prompt plain and the response in the primary colour
	var plain, scored bool
	for _, s := range w.data.preview.Segments {
		if ts, ok := s.(*widget.TextSegment); ok && ts.Style.Inline {
			if ts.Style.ColorName == "primary" && strings.Contains(ts.Text, "matey") {
				scored = true
			}
			if ts.Style.ColorName == "" && strings.HasPrefix(ts.Text, "Q: ") {
				plain = true
			}
		}
	}
	if !plain || !scored {
		t.Errorf("preview lacks a plain prompt (%v) or a highlighted response (%v)", plain, scored)
	}
	if got := strings.Join(w.config.targets.Options, ","); got != "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj" {
		t.Errorf("target checkboxes %s", got)
	}
	if len(w.chat.samples.Options) == 0 || !strings.HasPrefix(w.chat.prompt.Text, "Q: ") {
		t.Errorf("chat samples %v, prompt %q", w.chat.samples.Options, w.chat.prompt.Text)
	}
}

func TestTrainFromTheWindow(t *testing.T) {
	b := newBench(t)
	w := b.w
	locked(func() { w.config.steps.SetText("40") })
	locked(func() { w.config.batch.SetText("4") })
	locked(func() { w.tabs.SelectIndex(3) })
	var before []byte
	locked(func() { before = pixels(w.train.lossChart.current()) })
	locked(func() { test.Tap(w.train.startBtn) })
	j := w.train.currentJob()
	if j == nil {
		t.Fatalf("Start did not start a run (status %q)", w.status.Text)
	}
	if got := j.Config(); got.Steps != 40 || got.Batch != 4 || got.Model != b.demo.Model || !strings.HasPrefix(got.Out, b.runs) {
		t.Errorf("run config: steps %d batch %d model %s out %s", got.Steps, got.Batch, got.Model, got.Out)
	}
	waitFor(t, "progress", func() bool {
		var v float64
		locked(func() { v = w.train.progress.Value })
		return v > 0 && j.Progress().Step >= 4
	})
	locked(func() { test.Tap(w.train.pauseBtn) })
	var resumeOff bool
	locked(func() { resumeOff = w.train.resumeBtn.Disabled() })
	if j.State() != app.JobPaused || resumeOff {
		t.Fatalf("state %s after Pause, Resume disabled: %v", j.State(), resumeOff)
	}
	// The step in flight may finish and Progress lags the engine by the
	// metrics still queued; after that nothing moves (app and train check
	// where exactly the engine parks).
	at := j.Progress().Step
	time.Sleep(300 * time.Millisecond)
	next := j.Progress().Step
	time.Sleep(300 * time.Millisecond)
	if end := j.Progress().Step; end != next || next >= 40 {
		t.Fatalf("paused at step %d, then %d, then %d", at, next, end)
	}
	var pauseOn, startOn bool
	locked(func() { pauseOn, startOn = !w.train.pauseBtn.Disabled(), !w.train.startBtn.Disabled() })
	if pauseOn || startOn {
		t.Errorf("while paused: Pause enabled %v, Start enabled %v", pauseOn, startOn)
	}
	locked(func() { test.Tap(w.train.resumeBtn) })
	// the chart shown at step 4 or later is redrawn as training goes on
	var mid []byte
	locked(func() { mid = pixels(w.train.lossChart.current()) })
	waitFor(t, "the chart to change", func() bool {
		var now []byte
		locked(func() { now = pixels(w.train.lossChart.current()) })
		return j.Progress().Step >= 8 && len(now) > 0 && !bytes.Equal(now, before) && !bytes.Equal(now, mid)
	})
	if _, err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the finished run in the window", func() bool {
		var ok bool
		locked(func() { ok = strings.Contains(w.status.Text, "Trained 40 steps") && w.train.progress.Value == 1 })
		return ok
	})
	if ms := j.Metrics(); len(ms) != 40 {
		t.Errorf("%d metrics, want 40", len(ms))
	}
	// the finished adapter is offered in the chat pane
	if d := w.chat.adapters[w.chat.adapter.Selected]; d != j.Config().Out {
		t.Errorf("chat adapter %q, want the run %q", d, j.Config().Out)
	}
	// and the run is listed
	locked(func() { w.runs.refresh() })
	waitFor(t, "the runs list", func() bool {
		var n int
		locked(func() { n = len(w.runs.runs) })
		return n == 1
	})
	if r := w.runs.runs[0]; r.Status != app.RunDone || r.Step != 40 {
		t.Errorf("run listed as %s at step %d", r.Status, r.Step)
	}

	// the chat pane asks the base and the adapter, side by side
	locked(func() {
		w.tabs.SelectIndex(5)
		test.Tap(w.chat.sendBtn)
	})
	var base, tuned string
	waitFor(t, "both answers", func() bool {
		var done bool
		locked(func() {
			done = !w.chat.sendBtn.Disabled()
			base, tuned = w.chat.baseOut.Text, w.chat.tunedOut.Text
		})
		return done && base != "" && tuned != ""
	})
	if !strings.Contains(base, "green") || base == tuned {
		t.Errorf("chat: base %q, adapter %q", base, tuned)
	}

	// Export takes the finished run's adapter
	out := filepath.Join(t.TempDir(), "peft")
	b.dlg.set(chooseSave, out)
	locked(func() { menuItem(t, w, "Export", "Adapter (PEFT)…").Action() })
	tapInOverlay(t, w.win, "Choose destination…")
	waitFor(t, "the export", func() bool { return len(b.exp.requests()) == 1 })
	if r := b.exp.requests()[0]; r.AdapterDir != j.Config().Out || r.ModelDir != b.demo.Model || r.Out != out {
		t.Errorf("export request %+v", r)
	}
}

func TestStopResumeAndCloseDuringRun(t *testing.T) {
	b := newBench(t)
	w := b.w
	locked(func() { w.config.steps.SetText("2000") })
	locked(func() { test.Tap(w.train.startBtn) })
	j := w.train.currentJob()
	waitFor(t, "step 2", func() bool { return j.Progress().Step >= 2 })
	locked(func() { test.Tap(w.train.stopBtn) })
	if _, err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	if j.State() != app.JobStopped {
		t.Fatalf("state %s after Stop", j.State())
	}
	waitFor(t, "Resume enabled", func() bool {
		var ok bool
		locked(func() { ok = !w.train.resumeBtn.Disabled() })
		return ok
	})
	stoppedAt := j.Progress().Step
	locked(func() { test.Tap(w.train.resumeBtn) })
	waitFor(t, "progress after resume", func() bool { return j.Progress().Step > stoppedAt+1 })
	// closing the window asks; "Stop and quit" stops with a checkpoint
	locked(func() { w.closeRequested() })
	var asked string
	locked(func() { asked = overlayText(w.win) })
	if !strings.Contains(asked, "A run is training") {
		t.Fatalf("closing during a run did not ask (dialog %q)", asked)
	}
	tapInOverlay(t, w.win, "Stop and quit")
	if _, err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	info, err := app.ReadRun(j.Config().Out)
	if err != nil || info.Status != app.RunStopped || info.Checkpoint != j.Progress().Step {
		t.Fatalf("after close: %+v, %v", info, err)
	}
}

func TestBadDatasetShowsItsErrors(t *testing.T) {
	b := newBench(t)
	w := b.w
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	body := `{"prompt":"Q: What color is the sky?\nA:","completion":" Blue."}
{"prompt": "unterminated
{"prompt":"Q: What does a cat say?\nA:","completion":" Meow."}
{"prompt":"only a prompt"}
{"prompt":"Q: Is fire hot or cold?\nA:","completion":" Hot."}
`
	os.WriteFile(bad, []byte(body), 0o644)
	b.dlg.set(chooseFile, bad)
	locked(func() { menuItem(t, w, "File", "Open dataset…").Action() })
	waitFor(t, "the bad records", func() bool {
		var ok bool
		locked(func() { ok = w.data.badCard.Visible() && w.dataPath == bad && w.stats != nil })
		return ok
	})
	got := w.data.bad.Text
	for _, want := range []string{"line 2:", "line 4:"} {
		if !strings.Contains(got, want) {
			t.Errorf("bad records %q lack %q", got, want)
		}
	}
	if !strings.Contains(w.status.Text, "2 bad records") {
		t.Errorf("status %q", w.status.Text)
	}

	// a file with no good record at all: the error and the lines
	worse := filepath.Join(t.TempDir(), "worse.jsonl")
	os.WriteFile(worse, []byte("{oops\n[1,\n"), 0o644)
	locked(func() { w.setData(worse) })
	waitFor(t, "the unusable dataset", func() bool {
		var ok bool
		locked(func() { ok = w.data.errText.Visible() && strings.Contains(w.data.bad.Text, "line 2:") })
		return ok
	})
	if w.stats != nil {
		t.Error("an unusable dataset is kept for training")
	}
}

func TestMemoryEstimateFollowsBits(t *testing.T) {
	b := newBench(t)
	c := b.w.config
	texts := map[string]string{}
	for _, bits := range []string{"16", "8", "4"} {
		locked(func() { c.bits.SetSelected(bits) })
		texts[bits] = c.estimate.Text
		cfg, err := c.get()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Bits != map[string]int{"16": 16, "8": 8, "4": 4}[bits] {
			t.Errorf("config bits %d for %s", cfg.Bits, bits)
		}
		e, err := app.EstimateMemory(b.w.info, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(texts[bits], "weights "+app.FormatBytes(e.Weights)) {
			t.Errorf("%s bits: estimate %q does not show weights %s", bits, texts[bits], app.FormatBytes(e.Weights))
		}
	}
	if texts["16"] == texts["8"] || texts["8"] == texts["4"] {
		t.Errorf("the estimate does not change with the bit-width: %q", texts)
	}
	// Recomputation (gradient checkpointing) shrinks the activations shown.
	cfg, err := c.get()
	if err != nil {
		t.Fatal(err)
	}
	locked(func() { c.recompute.SetChecked(true) })
	rc, err := c.get()
	if err != nil {
		t.Fatal(err)
	}
	if !rc.Recompute || cfg.Recompute {
		t.Errorf("recompute setting %v after ticking, %v before", rc.Recompute, cfg.Recompute)
	}
	e0, _ := app.EstimateMemory(b.w.info, cfg)
	e1, _ := app.EstimateMemory(b.w.info, rc)
	if e1.Activations >= e0.Activations || !strings.Contains(c.estimate.Text, "activations "+app.FormatBytes(e1.Activations)) {
		t.Errorf("with recomputation the estimate reads %q; want activations %s (< %s)", c.estimate.Text, app.FormatBytes(e1.Activations), app.FormatBytes(e0.Activations))
	}
	locked(func() { c.recompute.SetChecked(false) })
	// an impossible batch shows the warning
	locked(func() { c.batch.SetText("100000") })
	locked(func() { c.seqLen.SetText("256") })
	if c.warning.Text == "" || !strings.Contains(c.warning.Text, "free memory") {
		t.Errorf("no memory warning for a huge batch: %q / %q", c.estimate.Text, c.warning.Text)
	}
	locked(func() { c.batch.SetText("many") })
	if !strings.Contains(c.warning.Text, "Batch") {
		t.Errorf("a bad number is not named: %q", c.warning.Text)
	}
}

func TestExportMenuCallsExport(t *testing.T) {
	b := newBench(t)
	w := b.w
	// without an adapter the menu says what to do
	locked(func() { menuItem(t, w, "Export", "Adapter (PEFT)…").Action() })
	if !strings.Contains(w.status.Text, "no adapter to export") {
		t.Fatalf("status %q", w.status.Text)
	}
	locked(func() { w.win.Canvas().Overlays().Top().Hide() })
	adapter := filepath.Join(t.TempDir(), "run-1")
	locked(func() { w.chat.useAdapter(adapter) })
	tests := []struct {
		item, format, quant string
	}{
		{"Adapter (PEFT)…", ExportPEFT, ""},
		{"Merged model (safetensors)…", ExportMerged, ""},
		{"GGUF…", ExportGGUF, "f16"},
		{"GGUF adapter…", ExportGGUFAdapter, "f32"},
	}
	for i, tc := range tests {
		out := filepath.Join(t.TempDir(), "export-"+tc.format)
		b.dlg.set(chooseSave, out)
		locked(func() { menuItem(t, w, "Export", tc.item).Action() })
		tapInOverlay(t, w.win, "Choose destination…")
		waitFor(t, "the export of "+tc.format, func() bool { return len(b.exp.requests()) == i+1 })
		r := b.exp.requests()[i]
		want := ExportRequest{Format: tc.format, ModelDir: b.demo.Model, AdapterDir: adapter, Out: out, Quant: tc.quant, Verify: true, Backend: "auto"}
		if r != want {
			t.Errorf("%s: request %+v, want %+v", tc.item, r, want)
		}
		waitFor(t, "the result dialog", func() bool {
			var ok bool
			locked(func() { ok = strings.Contains(overlayText(w.win), "Verification passed") })
			return ok
		})
		tapInOverlay(t, w.win, "OK")
	}
}

func TestDropAndRecent(t *testing.T) {
	b := newBench(t)
	w := b.w
	other := filepath.Join(t.TempDir(), "notamodel")
	os.MkdirAll(other, 0o755)
	locked(func() { w.dropped(fyne.NewPos(1, 1), []fyne.URI{storage.NewFileURI(other)}) })
	waitFor(t, "the error for a folder without a model", func() bool {
		var s string
		locked(func() { s = w.status.Text })
		return strings.Contains(s, "config.json")
	})
	if w.modelDir != b.demo.Model {
		t.Errorf("a failed open replaced the model: %q", w.modelDir)
	}
	locked(func() {
		w.dropped(fyne.NewPos(1, 1), []fyne.URI{storage.NewFileURI(filepath.Join(b.demo.Model, "config.json"))})
	})
	waitFor(t, "the dropped model", func() bool {
		var ok bool
		locked(func() { ok = w.model.title.Text == filepath.Base(b.demo.Model) })
		return ok
	})
	if rec := w.settings.RecentModels(); len(rec) == 0 || rec[0] != b.demo.Model {
		t.Errorf("recent models %v", rec)
	}
	if len(w.recentModels.Items) == 0 || w.recentModels.Items[0].Label != b.demo.Model {
		t.Errorf("recent menu %v", w.recentModels.Items)
	}
}

func TestStartWithBadSettingsSaysWhy(t *testing.T) {
	b := newBench(t)
	w := b.w
	locked(func() { w.config.rank.SetText("eight") })
	locked(func() { test.Tap(w.train.startBtn) })
	if w.train.currentJob() != nil {
		t.Fatal("a run started with rank \"eight\"")
	}
	if !strings.Contains(w.status.Text, "Rank") {
		t.Errorf("status %q does not name the field", w.status.Text)
	}
}

func TestSettingsSaveAndLoad(t *testing.T) {
	b := newBench(t)
	w := b.w
	path := filepath.Join(t.TempDir(), "s.toml")
	locked(func() { w.config.rank.SetText("4") })
	locked(func() { w.config.bits.SetSelected("8") })
	b.dlg.set(chooseSave, path)
	locked(func() { menuItem(t, w, "File", "Save settings…").Action() })
	waitFor(t, "the settings file", func() bool { _, err := os.Stat(path); return err == nil })
	c, err := app.LoadRunConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rank != 4 || c.Bits != 8 || c.Model != b.demo.Model {
		t.Errorf("saved rank %d bits %d model %q", c.Rank, c.Bits, c.Model)
	}
	locked(func() { w.config.rank.SetText("32") })
	b.dlg.set(chooseFile, path)
	locked(func() { menuItem(t, w, "File", "Load settings…").Action() })
	waitFor(t, "the loaded settings", func() bool {
		var s string
		locked(func() { s = w.config.rank.Text })
		return s == "4"
	})
}
