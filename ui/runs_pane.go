package ui

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fynetune/fynetune/app"
)

// runsPane lists the run directories and overlays their loss curves.
type runsPane struct {
	w       *Workbench
	content fyne.CanvasObject
	list    *widget.List
	folder  *widget.Label
	chart   *throttle
	view    *chartView

	runs     []app.RunInfo // UI goroutine
	selected int

	mu      sync.Mutex // guards shown for the render goroutine
	checked map[string]bool
	shown   []compareRun // the runs the chart draws (names and dirs)
	pal     atomic.Value
}

func newRunsPane(w *Workbench) *runsPane {
	p := &runsPane{w: w, selected: -1, checked: map[string]bool{}}
	p.pal.Store(paletteFor(w.app.Settings().Theme(), w.app.Settings().ThemeVariant()))
	w.app.Settings().AddListener(func(s fyne.Settings) { p.pal.Store(paletteFor(s.Theme(), s.ThemeVariant())) })
	p.folder = widget.NewLabel("")
	p.folder.Truncation = fyne.TextTruncateEllipsis
	p.list = widget.NewList(
		func() int { return len(p.runs) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("run")
			l.Truncation = fyne.TextTruncateEllipsis
			return container.NewBorder(nil, nil, widget.NewCheck("", nil), nil, l)
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id >= len(p.runs) {
				return
			}
			r := p.runs[id]
			c := o.(*fyne.Container)
			lbl := c.Objects[0].(*widget.Label)
			chk := c.Objects[1].(*widget.Check)
			lbl.SetText(runLine(r))
			chk.OnChanged = nil
			p.mu.Lock()
			chk.SetChecked(p.checked[r.Dir])
			p.mu.Unlock()
			dir := r.Dir
			chk.OnChanged = func(on bool) { p.setChecked(dir, on) }
		})
	p.list.OnSelected = func(id widget.ListItemID) {
		p.selected = id
		p.updateChart()
	}
	p.view = newChartView(fyne.NewSize(420, 300))
	p.chart = newThrottle(chartInterval, p.render)
	p.view.onResize = p.chart.Trigger
	refresh := widget.NewButtonWithIcon("Refresh", theme.ViewRefreshIcon(), p.refresh)
	folder := widget.NewButtonWithIcon("Runs folder…", theme.FolderOpenIcon(), func() {
		w.choose(chooseFolder, "Runs folder", w.settings.RunsDir(), "", nil, func(d string) {
			w.settings.SetRunsDir(d)
			p.refresh()
		})
	})
	resume := widget.NewButtonWithIcon("Resume", theme.MediaReplayIcon(), func() {
		if r, ok := p.current(); ok {
			w.train.resumeRun(r.Dir)
		}
	})
	charts := widget.NewButtonWithIcon("Open charts", theme.VisibilityIcon(), func() {
		r, ok := p.current()
		if !ok {
			return
		}
		j, err := app.OpenJob(r.Dir)
		if err != nil {
			w.showError(err)
			return
		}
		w.train.show(j)
		w.tabs.SelectIndex(3)
	})
	chat := widget.NewButtonWithIcon("Chat with adapter", theme.MailComposeIcon(), func() {
		r, ok := p.current()
		if !ok {
			return
		}
		if r.Adapter == "" {
			w.showError(errors.New("this run has no adapter yet: it is written when training ends (Resume it to finish)"))
			return
		}
		w.chat.useAdapter(r.Adapter)
		w.tabs.SelectIndex(5)
	})
	hint := widget.NewLabel("Select a run to see its loss; tick two or more to compare them.")
	top := container.NewVBox(container.NewHBox(refresh, folder, resume, charts, chat), p.folder, hint)
	split := container.NewHSplit(p.list, p.view)
	split.Offset = 0.45
	p.content = container.NewBorder(top, nil, nil, nil, split)
	return p
}

// runLine is a run's row in the list.
func runLine(r app.RunInfo) string {
	loss := "—"
	if !math.IsNaN(r.FinalLoss) {
		loss = fmt.Sprintf("%.3f", r.FinalLoss)
		if !math.IsNaN(r.EvalLoss) {
			loss += fmt.Sprintf(" (val %.3f)", r.EvalLoss)
		}
	}
	return fmt.Sprintf("%s  %s · %s  step %d/%d  loss %s  %s", r.Date.Format("2006-01-02 15:04"),
		filepath.Base(r.Model), filepath.Base(r.Data), r.Step, r.TotalSteps, loss, r.Status)
}

// current is the selected run.
func (p *runsPane) current() (app.RunInfo, bool) {
	if p.selected < 0 || p.selected >= len(p.runs) {
		p.w.showError(errors.New("select a run in the list first"))
		return app.RunInfo{}, false
	}
	return p.runs[p.selected], true
}

func (p *runsPane) setChecked(dir string, on bool) {
	p.mu.Lock()
	if on {
		p.checked[dir] = true
	} else {
		delete(p.checked, dir)
	}
	p.mu.Unlock()
	p.updateChart()
}

// refresh reads the runs folder off the UI goroutine.
func (p *runsPane) refresh() {
	root := p.w.settings.RunsDir()
	go func() {
		runs, err := app.ListRuns(root)
		do(func() {
			if err != nil {
				p.w.showError(err)
				return
			}
			p.runs = runs
			p.folder.SetText(fmt.Sprintf("%d runs in %s", len(runs), root))
			if p.selected >= len(runs) {
				p.selected = -1
			}
			p.list.Refresh()
			p.updateChart()
		})
	}()
}

// updateChart picks the runs to draw: the ticked ones, or the selected one.
func (p *runsPane) updateChart() {
	var shown []compareRun
	p.mu.Lock()
	for _, r := range p.runs {
		if p.checked[r.Dir] {
			shown = append(shown, compareRun{Name: r.Name, dir: r.Dir})
		}
	}
	if len(shown) == 0 && p.selected >= 0 && p.selected < len(p.runs) {
		r := p.runs[p.selected]
		shown = append(shown, compareRun{Name: r.Name, dir: r.Dir})
	}
	p.shown = shown
	p.mu.Unlock()
	p.chart.Trigger()
}

// render reads the shown runs' metrics and draws them (off the UI goroutine).
func (p *runsPane) render() {
	p.mu.Lock()
	shown := append([]compareRun(nil), p.shown...)
	p.mu.Unlock()
	for i := range shown {
		ms, err := app.RunMetrics(shown[i].dir)
		if err != nil && len(ms) == 0 {
			continue
		}
		shown[i].Metrics = ms
	}
	w, h, dpi := p.view.pixels()
	img := renderCompare(shown, w, h, dpi, p.pal.Load().(palette))
	do(func() { p.view.set(img) })
}
