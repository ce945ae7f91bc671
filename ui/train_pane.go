package ui

import (
	"errors"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fynetune/fynetune/app"
)

// trainPane runs training: the buttons, the progress and the live charts.
type trainPane struct {
	w       *Workbench
	content fyne.CanvasObject

	startBtn, pauseBtn, stopBtn, resumeBtn, demoBtn *widget.Button
	progress                                        *widget.ProgressBar
	state, stepL, elapsedL, etaL, speedL, lossL     *widget.Label
	memL, logL, runL                                *widget.Label
	lossChart, speedChart                           *chartView

	mu     sync.Mutex // guards job for the render goroutines
	job    *app.Job
	labels *throttle
	charts *throttle
	pal    atomic.Value // palette

	renders atomic.Int64 // chart refreshes (for the benchmark)
	uiTime  atomic.Int64 // nanoseconds the refreshes spent on the UI goroutine
}

func newTrainPane(w *Workbench) *trainPane {
	p := &trainPane{w: w}
	p.startBtn = widget.NewButtonWithIcon("Start", theme.MediaPlayIcon(), p.start)
	p.startBtn.Importance = widget.HighImportance
	p.pauseBtn = widget.NewButtonWithIcon("Pause", theme.MediaPauseIcon(), p.pause)
	p.stopBtn = widget.NewButtonWithIcon("Stop", theme.MediaStopIcon(), p.stop)
	p.resumeBtn = widget.NewButtonWithIcon("Resume", theme.MediaReplayIcon(), p.resume)
	p.demoBtn = widget.NewButtonWithIcon("Train the demo", theme.HomeIcon(), p.trainDemo)
	p.progress = widget.NewProgressBar()
	p.progress.TextFormatter = func() string {
		j := p.currentJob()
		if j == nil {
			return "no run"
		}
		pr := j.Progress()
		return fmt.Sprintf("step %d / %d", pr.Step, pr.Total)
	}
	lbl := func(s string) *widget.Label { return widget.NewLabel(s) }
	p.state, p.stepL, p.elapsedL, p.etaL, p.speedL = lbl("idle"), lbl("—"), lbl("—"), lbl("—"), lbl("—")
	p.lossL, p.memL, p.logL, p.runL = lbl("—"), lbl("—"), lbl(""), lbl("")
	p.logL.Truncation = fyne.TextTruncateEllipsis
	p.runL.Truncation = fyne.TextTruncateEllipsis
	stats := container.NewGridWithColumns(4,
		labeled("State", p.state), labeled("Elapsed", p.elapsedL), labeled("ETA", p.etaL), labeled("Speed", p.speedL),
		labeled("Step", p.stepL), labeled("Loss", p.lossL), labeled("Memory", p.memL), labeled("Run", p.runL))
	p.pal.Store(paletteFor(w.app.Settings().Theme(), w.app.Settings().ThemeVariant()))
	w.app.Settings().AddListener(func(s fyne.Settings) { p.pal.Store(paletteFor(s.Theme(), s.ThemeVariant())) })
	p.lossChart = newChartView(fyne.NewSize(420, 300))
	p.speedChart = newChartView(fyne.NewSize(420, 300))
	p.labels = newThrottle(100*time.Millisecond, p.renderLabels)
	p.charts = newThrottle(chartInterval, p.renderCharts)
	p.lossChart.onResize = p.charts.Trigger
	p.speedChart.onResize = p.charts.Trigger
	buttons := container.NewHBox(p.startBtn, p.pauseBtn, p.stopBtn, p.resumeBtn, widget.NewSeparator(), p.demoBtn)
	top := container.NewVBox(buttons, p.progress, stats, p.logL)
	p.content = container.NewBorder(top, nil, nil, nil, container.NewGridWithColumns(2, p.lossChart, p.speedChart))
	p.updateButtons()
	p.charts.Trigger()
	return p
}

func labeled(name string, v *widget.Label) fyne.CanvasObject {
	n := widget.NewLabelWithStyle(name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	v.Truncation = fyne.TextTruncateEllipsis
	return container.NewBorder(nil, nil, n, nil, v)
}

func (p *trainPane) currentJob() *app.Job {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.job
}

func (p *trainPane) setJob(j *app.Job) {
	p.mu.Lock()
	p.job = j
	p.mu.Unlock()
}

// start begins a new run with the panes' settings.
func (p *trainPane) start() {
	if j := p.currentJob(); j != nil && j.State().Active() {
		p.w.showError(errors.New("a run is already training: stop it first, or wait for it to end"))
		return
	}
	cfg, err := p.w.runConfig(true)
	if err != nil {
		p.w.showError(fmt.Errorf("cannot start: %w", err))
		return
	}
	p.startWith(cfg)
}

// startWith begins a new run of cfg.
func (p *trainPane) startWith(cfg app.RunConfig) {
	j := app.NewJob(cfg)
	if err := j.Start(); err != nil {
		p.w.showError(fmt.Errorf("cannot start: %w", err))
		return
	}
	p.w.settings.SetConfig(cfg)
	p.setJob(j)
	p.watch(j)
	p.w.setStatus("Training %s on %s; the run is kept in %s", filepath.Base(cfg.Model), filepath.Base(cfg.Data), cfg.Out)
}

// trainDemo starts "Train the demo": the demo's model, dataset and settings.
func (p *trainPane) trainDemo() {
	if j := p.currentJob(); j != nil && j.State().Active() {
		p.w.showError(errors.New("a run is already training: stop it first, or wait for it to end"))
		return
	}
	go func() {
		d, err := p.w.opts.OpenDemo()
		do(func() {
			if err != nil {
				p.w.showError(fmt.Errorf("opening the demo: %w", err))
				return
			}
			w := p.w
			w.demo = d
			cfg := d.Config
			cfg.Bits = w.config.bitWidth()
			cfg.Out = app.NewRunDir(w.settings.RunsDir(), cfg.Model, cfg.Data, time.Now())
			w.config.set(cfg)
			if w.modelDir != d.Model {
				w.setModel(d.Model)
			}
			if w.dataPath != d.Data {
				w.setData(d.Data)
			}
			w.chat.setSamples(d.Prompts)
			w.tabs.SelectIndex(3)
			p.startWith(cfg)
		})
	}()
}

func (p *trainPane) pause() {
	if j := p.currentJob(); j != nil {
		if err := j.Pause(); err != nil {
			p.w.showError(err)
		}
		p.updateButtons()
		p.labels.Trigger()
	}
}

func (p *trainPane) stop() {
	if j := p.currentJob(); j != nil {
		if err := j.Stop(); err != nil {
			p.w.showError(err)
		}
		p.updateButtons()
		p.labels.Trigger()
	}
}

// resume continues a paused run, or a stopped one from its checkpoint.
func (p *trainPane) resume() {
	j := p.currentJob()
	if j == nil {
		p.w.showError(errors.New("nothing to resume: pick a stopped run in the Runs tab"))
		return
	}
	restart := j.State() == app.JobStopped || j.State() == app.JobFailed
	if err := j.Resume(); err != nil {
		p.w.showError(err)
		return
	}
	if restart {
		p.watch(j)
	}
	p.updateButtons()
	p.labels.Trigger()
}

// resumeRun continues a run directory from the Runs tab.
func (p *trainPane) resumeRun(dir string) {
	if j := p.currentJob(); j != nil && j.State().Active() {
		p.w.showError(errors.New("a run is already training: stop it first"))
		return
	}
	j, err := app.OpenJob(dir)
	if err != nil {
		p.w.showError(err)
		return
	}
	p.setJob(j)
	p.w.tabs.SelectIndex(3)
	if err := j.Resume(); err != nil {
		p.w.showError(err)
		p.refreshNow()
		return
	}
	p.watch(j)
}

// show displays a past run (its charts) without running it.
func (p *trainPane) show(j *app.Job) {
	if cur := p.currentJob(); cur != nil && cur.State().Active() {
		return
	}
	p.setJob(j)
	p.refreshNow()
}

// watch follows a running job's events until its goroutine ends.
func (p *trainPane) watch(j *app.Job) {
	events, unsub := j.Subscribe(256)
	done := j.Done()
	p.updateButtons()
	p.refreshNow()
	go func() {
		defer unsub()
		for {
			select {
			case ev := <-events:
				if ev.Log != "" {
					s := ev.Log
					do(func() { p.logL.SetText(s) })
					continue
				}
				if ev.Metrics == nil {
					do(p.updateButtons)
				}
				p.labels.Trigger()
				p.charts.Trigger()
			case <-done:
				p.labels.Trigger()
				p.charts.Trigger()
				do(func() { p.finished(j) })
				return
			}
		}
	}()
}

// finished reports how a run ended.
func (p *trainPane) finished(j *app.Job) {
	p.updateButtons()
	cfg := j.Config()
	switch j.State() {
	case app.JobDone:
		res := j.Result()
		msg := fmt.Sprintf("Trained %d steps, last loss %.4f", res.Steps, res.LastLoss)
		if !math.IsNaN(res.EvalLoss) {
			msg += fmt.Sprintf(", validation %.4f", res.EvalLoss)
		}
		if res.Adapter != "" {
			msg += ". The adapter is in " + res.Adapter + ": try it in the Chat tab, or Export it."
			p.w.chat.useAdapter(res.Adapter)
		}
		p.w.setStatus("%s", msg)
	case app.JobStopped:
		p.w.setStatus("Stopped at step %d; a checkpoint was saved in %s. Resume continues it.", j.Progress().Step, cfg.Out)
	case app.JobFailed:
		p.w.showError(fmt.Errorf("the run failed: %w\n\nThe window is fine: change the settings and press Start, or Resume from the last checkpoint when there is one", j.Err()))
	}
	p.w.runs.refresh()
}

// updateButtons enables the buttons that apply to the job's state.
func (p *trainPane) updateButtons() {
	j := p.currentJob()
	st := app.JobIdle
	if j != nil {
		st = j.State()
	}
	enable := func(b *widget.Button, on bool) {
		if on {
			b.Enable()
		} else {
			b.Disable()
		}
	}
	active := st.Active()
	enable(p.startBtn, !active)
	enable(p.demoBtn, !active)
	enable(p.pauseBtn, st == app.JobRunning)
	enable(p.stopBtn, st == app.JobRunning || st == app.JobPaused || st == app.JobLoading)
	enable(p.resumeBtn, j != nil && j.CanResume())
	p.state.SetText(st.String())
}

// refreshNow redraws the labels and the charts soon.
func (p *trainPane) refreshNow() {
	p.labels.Trigger()
	p.charts.Trigger()
}

// renderLabels updates the progress bar and the numbers (throttled).
func (p *trainPane) renderLabels() {
	j := p.currentJob()
	if j == nil {
		return
	}
	pr := j.Progress()
	cfg := j.Config()
	do(func() {
		p.progress.SetValue(pr.Fraction())
		p.state.SetText(pr.State.String())
		p.stepL.SetText(fmt.Sprintf("%d / %d", pr.Step, pr.Total))
		p.elapsedL.SetText(formatDuration(pr.Elapsed))
		if pr.ETA > 0 && pr.State.Active() {
			p.etaL.SetText(formatDuration(pr.ETA))
		} else {
			p.etaL.SetText("—")
		}
		p.speedL.SetText(fmt.Sprintf("%.0f tokens/s", pr.TokensPerSec))
		l := "—"
		if !math.IsNaN(pr.Loss) {
			l = fmt.Sprintf("%.4f", pr.Loss)
			if !math.IsNaN(pr.EvalLoss) {
				l += fmt.Sprintf(" (validation %.4f)", pr.EvalLoss)
			}
		}
		p.lossL.SetText(l)
		if pr.MemoryBytes > 0 {
			p.memL.SetText(app.FormatBytes(int64(pr.MemoryBytes)))
		}
		p.runL.SetText(filepath.Base(cfg.Out))
	})
}

// renderCharts draws both charts off the UI goroutine and shows them.
func (p *trainPane) renderCharts() {
	var ms []app.Metrics
	if j := p.currentJob(); j != nil {
		ms = j.Metrics()
	}
	pal := p.pal.Load().(palette)
	var a, b image.Image
	var wg sync.WaitGroup
	wg.Go(func() {
		w, h, dpi := p.lossChart.pixels()
		a = renderTraining(ms, w, h, dpi, pal)
	})
	w, h, dpi := p.speedChart.pixels()
	b = renderThroughput(ms, w, h, dpi, pal)
	wg.Wait()
	p.renders.Add(1)
	do(func() {
		t0 := time.Now()
		p.lossChart.set(a)
		p.speedChart.set(b)
		p.uiTime.Add(int64(time.Since(t0)))
	})
}

func formatDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}
