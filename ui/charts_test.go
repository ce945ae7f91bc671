package ui

import (
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"gonum.org/v1/plot/plotter"

	"github.com/fynetune/fynetune/app"
)

// fakeMetrics is a plausible run of n steps.
func fakeMetrics(n int) []app.Metrics {
	ms := make([]app.Metrics, n)
	for i := range ms {
		s := i + 1
		ms[i] = app.Metrics{Step: s, TotalSteps: n, Loss: 3*math.Exp(-float64(s)/200) + 0.5 + 0.1*math.Sin(float64(s)),
			LR: 2e-4 * float64(min(s, 50)) / 50, TokensPerSec: 5000 + 500*math.Cos(float64(s)/7), MemoryBytes: uint64(300+s/10) << 20}
		if s%50 == 0 {
			ev := ms[i].Loss + 0.05
			ms[i].EvalLoss = &ev
		}
	}
	return ms
}

func darkPalette() palette { return paletteFor(theme.DefaultTheme(), theme.VariantDark) }

func TestChartsDrawData(t *testing.T) {
	pal := darkPalette()
	bg := pal.bg
	tests := []struct {
		name string
		draw func(ms []app.Metrics) image.Image
	}{
		{"training", func(ms []app.Metrics) image.Image { return renderTraining(ms, 600, 400, 96, pal) }},
		{"throughput", func(ms []app.Metrics) image.Image { return renderThroughput(ms, 600, 400, 96, pal) }},
		{"compare", func(ms []app.Metrics) image.Image {
			return renderCompare([]compareRun{{Name: "a", Metrics: ms}, {Name: "b", Metrics: ms[:len(ms)/2]}}, 600, 400, 96, pal)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			empty := tc.draw(nil)
			full := tc.draw(fakeMetrics(300))
			if empty.Bounds().Dx() != 600 || empty.Bounds().Dy() != 400 {
				t.Fatalf("image %v, want 600x400", empty.Bounds())
			}
			if r, g, b, _ := full.At(2, 2).RGBA(); [3]uint32{r, g, b} != rgb(bg) {
				t.Errorf("corner colour %v, want the theme background", full.At(2, 2))
			}
			// the curves add pixels of the series colours
			if d := differing(empty, full); d < 500 {
				t.Errorf("only %d pixels differ between the empty and the full chart", d)
			}
		})
	}
	// NaN and Inf losses (a diverging run) do not break the chart
	ms := fakeMetrics(20)
	ms[5].Loss, ms[6].Loss = math.NaN(), math.Inf(1)
	renderTraining(ms, 300, 200, 96, pal)
}

func rgb(c interface{ RGBA() (r, g, b, a uint32) }) [3]uint32 {
	r, g, b, _ := c.RGBA()
	return [3]uint32{r, g, b}
}

func differing(a, b image.Image) int {
	n := 0
	r := a.Bounds().Intersect(b.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if rgb(a.At(x, y)) != rgb(b.At(x, y)) {
				n++
			}
		}
	}
	return n
}

func TestChartsFollowTheTheme(t *testing.T) {
	ms := fakeMetrics(100)
	dark := renderTraining(ms, 300, 200, 96, paletteFor(theme.DefaultTheme(), theme.VariantDark))
	light := renderTraining(ms, 300, 200, 96, paletteFor(theme.DefaultTheme(), theme.VariantLight))
	if rgb(dark.At(1, 1)) == rgb(light.At(1, 1)) {
		t.Error("light and dark charts have the same background")
	}
}

func TestEMAAndThin(t *testing.T) {
	if got := ema([]float64{4, 4, 4}, 0.9); got[0] != 4 || got[2] != 4 {
		t.Errorf("ema of a constant: %v", got)
	}
	if got := ema([]float64{0, 10}, 0.5); math.Abs(got[1]-20.0/3) > 1e-12 {
		t.Errorf("debiased ema %v, want 6.667", got[1])
	}
	pts := make(plotter.XYs, 5000)
	for i := range pts {
		pts[i].X = float64(i)
	}
	th := thin(pts, 200)
	if len(th) != 200 || th[len(th)-1].X != 4999 || th[0].X != 0 {
		t.Errorf("thin: %d points from %v to %v", len(th), th[0], th[len(th)-1])
	}
	// the envelope keeps a spike that even thinning would miss
	pts[1234].Y = 100
	env := envelope(pts, 100)
	if len(env) > 100 {
		t.Errorf("envelope: %d points, want at most 100", len(env))
	}
	found := false
	for _, p := range env {
		found = found || p.Y == 100
	}
	if !found {
		t.Error("envelope lost the spike")
	}
}

func TestThrottle(t *testing.T) {
	var runs, running, overlap atomic.Int32
	th := newThrottle(20*time.Millisecond, func() {
		if running.Add(1) > 1 {
			overlap.Add(1)
		}
		runs.Add(1)
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
	})
	for range 200 {
		th.Trigger()
		time.Sleep(100 * time.Microsecond)
	}
	waitFor(t, "the throttle to go idle", func() bool {
		th.mu.Lock()
		defer th.mu.Unlock()
		return !th.running
	})
	if n := runs.Load(); n < 1 || n > 40 {
		t.Errorf("%d runs for 200 triggers in about 20 ms", n)
	}
	if overlap.Load() != 0 {
		t.Error("two runs overlapped")
	}
	before := runs.Load()
	th.Trigger()
	waitFor(t, "a run after the last trigger", func() bool { return runs.Load() == before+1 })
}

// BenchmarkChartRender is one refresh of the training chart (loss and LR)
// for a 2000-step run at 640×420 pixels.
func BenchmarkChartRender(b *testing.B) {
	ms := fakeMetrics(2000)
	pal := darkPalette()
	cpu0 := cpuTime()
	for b.Loop() {
		renderTraining(ms, 640, 420, 96, pal)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/refresh")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/refresh")
}

// cpuTime is the CPU time this process has used (user and system), so the
// benchmarks can report the work of a refresh apart from the wall time a
// busy machine adds.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkChartUpdate is the whole refresh path of the Train pane: copy
// the job's metrics, draw both charts, hand them to the window.
func BenchmarkChartUpdate(b *testing.B) {
	a := test.NewTempApp(b)
	dir := b.TempDir()
	var sb strings.Builder
	sb.WriteString("model = \"m\"\ndata = \"d\"\nout = \"o\"\n")
	os.WriteFile(filepath.Join(dir, "config.toml"), []byte(sb.String()), 0o644)
	var ml strings.Builder
	for _, m := range fakeMetrics(2000) {
		ev := ""
		if m.EvalLoss != nil {
			ev = fmt.Sprintf(`,"eval_loss":%g`, *m.EvalLoss)
		}
		fmt.Fprintf(&ml, `{"step":%d,"total_steps":%d,"loss":%g,"lr":%g,"tokens_per_s":%g,"memory_bytes":%d%s}`+"\n",
			m.Step, m.TotalSteps, m.Loss, m.LR, m.TokensPerSec, m.MemoryBytes, ev)
	}
	os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(ml.String()), 0o644)
	j, err := app.OpenJob(dir)
	if err != nil {
		b.Fatal(err)
	}
	var w *Workbench
	locked(func() {
		w = New(a, Options{Store: &app.MemStore{}, NoDemo: true})
		w.win.Resize(fyne.NewSize(1180, 780))
		w.tabs.SelectIndex(3)
	})
	p := w.train
	cw, ch, _ := p.lossChart.pixels()
	b.Logf("charts drawn at %dx%d pixels each", cw, ch)
	p.setJob(j)
	cpu0 := cpuTime()
	ui0 := p.uiTime.Load()
	for b.Loop() {
		p.renderCharts()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/refresh")
	b.ReportMetric(float64(p.uiTime.Load()-ui0)/1e6/float64(b.N), "ui-ms/refresh")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/refresh")
}
