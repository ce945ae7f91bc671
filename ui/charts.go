package ui

import (
	"fmt"
	"image"
	"image/color"
	draw2 "image/draw"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/fynetune/fynetune/app"
)

// chartInterval is the shortest time between two renders of a chart:
// at most 5 refreshes a second.
const chartInterval = 200 * time.Millisecond

// maxPoints is the most points a line is drawn with; longer series are
// thinned (the smoothed curve is computed on every point first). The
// renderers ask for fewer on narrow charts: about one point per three
// pixels is as smooth as the eye can tell, and stroking cost grows with
// the points.
const maxPoints = 600

// palette holds the chart colours for one theme variant.
type palette struct {
	bg, fg, grid               color.Color
	raw, smooth, eval, lr, mem color.Color
	compare                    []color.Color
}

// paletteFor reads the chart colours from a Fyne theme.
func paletteFor(th fyne.Theme, v fyne.ThemeVariant) palette {
	c := func(n fyne.ThemeColorName) color.Color { return th.Color(n, v) }
	fg := c(theme.ColorNameForeground)
	primary := c(theme.ColorNamePrimary)
	return palette{
		bg: c(theme.ColorNameBackground), fg: fg, grid: c(theme.ColorNameSeparator),
		raw: fade(primary, 0.35), smooth: primary, eval: c(theme.ColorNameError),
		lr: c(theme.ColorNameSuccess), mem: c(theme.ColorNameWarning),
		compare: []color.Color{primary, c(theme.ColorNameError), c(theme.ColorNameSuccess), c(theme.ColorNameWarning)},
	}
}

// fade returns c at alpha a (non-premultiplied).
func fade(c color.Color, a float64) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a * 255)}
}

// ema is the debiased exponential moving average of v with weight beta
// (TensorBoard's smoothing).
func ema(v []float64, beta float64) []float64 {
	out := make([]float64, len(v))
	var s, w float64
	for i, x := range v {
		s = beta*s + (1-beta)*x
		w = beta*w + (1 - beta)
		out[i] = s / w
	}
	return out
}

// thin picks at most n (≤ maxPoints) evenly spaced points, the last one
// always.
func thin(xys plotter.XYs, n int) plotter.XYs {
	n = min(max(n, 2), maxPoints)
	if len(xys) <= n {
		return xys
	}
	out := make(plotter.XYs, 0, n)
	step := float64(len(xys)-1) / float64(n-1)
	for i := 0; i < n; i++ {
		out = append(out, xys[int(math.Round(float64(i)*step))])
	}
	return out
}

// envelope thins a noisy series to at most about n points keeping each
// bucket's lowest and highest value, so spikes stay visible.
func envelope(xys plotter.XYs, n int) plotter.XYs {
	n = min(max(n, 4), maxPoints)
	if len(xys) <= n {
		return xys
	}
	buckets := n / 2
	out := make(plotter.XYs, 0, n)
	for b := 0; b < buckets; b++ {
		lo, hi := b*len(xys)/buckets, (b+1)*len(xys)/buckets
		mn, mx := lo, lo
		for i := lo; i < hi; i++ {
			if xys[i].Y < xys[mn].Y {
				mn = i
			}
			if xys[i].Y > xys[mx].Y {
				mx = i
			}
		}
		if mn > mx {
			mn, mx = mx, mn
		}
		out = append(out, xys[mn])
		if mx != mn {
			out = append(out, xys[mx])
		}
	}
	return out
}

// style applies the palette to a plot.
func style(p *plot.Plot, pal palette, fontSize vg.Length) {
	// the canvas is filled with the background once; a plot filling its
	// own area again only costs time
	p.BackgroundColor = nil
	p.Title.TextStyle.Color = pal.fg
	p.Title.TextStyle.Font.Size = fontSize * 1.15
	p.Legend.TextStyle.Color = pal.fg
	p.Legend.TextStyle.Font.Size = fontSize
	p.Legend.Top = true
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Color = pal.fg
		a.LineStyle.Color = pal.fg
		a.Label.TextStyle.Color = pal.fg
		a.Label.TextStyle.Font.Size = fontSize
		a.Tick.Label.Color = pal.fg
		a.Tick.Label.Font.Size = fontSize * 0.9
		a.Tick.LineStyle.Color = pal.fg
	}
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = pal.grid, pal.grid
	p.Add(g)
}

// addLine adds a line of at most about n points (skipping an empty
// series); noisy lines keep their extremes.
func addLine(p *plot.Plot, xys plotter.XYs, c color.Color, width vg.Length, legend string, n int, noisy bool) {
	if len(xys) == 0 {
		return
	}
	if noisy {
		xys = envelope(xys, n)
	} else {
		xys = thin(xys, n)
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return // NaN or Inf values: nothing sensible to draw
	}
	l.LineStyle.Color, l.LineStyle.Width = c, width
	p.Add(l)
	if legend != "" {
		p.Legend.Add(legend, l)
	}
}

// finite keeps the points whose y is a finite number.
func finite(xys plotter.XYs) plotter.XYs {
	out := xys[:0:0]
	for _, p := range xys {
		if !math.IsNaN(p.Y) && !math.IsInf(p.Y, 0) {
			out = append(out, p)
		}
	}
	return out
}

// newCanvas returns an image canvas of w×h pixels at dpi.
func newCanvas(w, h int, dpi float64, bg color.Color) *vgimg.Canvas {
	w, h = max(w, 16), max(h, 16)
	d := max(int(dpi+0.5), 24)
	px := func(n int) vg.Length { return vg.Length(float64(n)/float64(d)) * vg.Inch }
	return vgimg.NewWith(vgimg.UseWH(px(w), px(h)), vgimg.UseDPI(d), vgimg.UseBackgroundColor(bg))
}

// rgba returns the canvas's image.
func rgba(c *vgimg.Canvas) *image.RGBA {
	if img, ok := c.Image().(*image.RGBA); ok {
		return img
	}
	img := c.Image()
	out := image.NewRGBA(img.Bounds())
	draw2.Draw(out, out.Bounds(), img, img.Bounds().Min, draw2.Src)
	return out
}

// split draws top above bottom, top taking frac of the height.
func split(c *vgimg.Canvas, top, bottom *plot.Plot, frac float64) {
	dc := draw.New(c)
	h := dc.Max.Y - dc.Min.Y
	cut := vg.Length(float64(h) * (1 - frac))
	top.Draw(draw.Crop(dc, 0, 0, cut, 0))
	bottom.Draw(draw.Crop(dc, 0, 0, 0, -(h - cut)))
}

// renderTraining draws the training chart: loss (raw and smoothed) with the
// validation loss above, the learning rate below.
func renderTraining(ms []app.Metrics, w, h int, dpi float64, pal palette) *image.RGBA {
	fs := vg.Points(11)
	loss := plot.New()
	style(loss, pal, fs)
	loss.Title.Text = "Loss"
	loss.Y.Label.Text = "loss"
	lr := plot.New()
	style(lr, pal, fs)
	lr.X.Label.Text = "step"
	lr.Y.Label.Text = "learning rate"
	lr.Y.Tick.Marker = compactTicks{}
	raw := make(plotter.XYs, 0, len(ms))
	var rates, evals plotter.XYs
	var ys []float64
	for _, m := range ms {
		raw = append(raw, plotter.XY{X: float64(m.Step), Y: m.Loss})
		ys = append(ys, m.Loss)
		rates = append(rates, plotter.XY{X: float64(m.Step), Y: m.LR})
		if m.EvalLoss != nil {
			evals = append(evals, plotter.XY{X: float64(m.Step), Y: *m.EvalLoss})
		}
	}
	sm := make(plotter.XYs, len(raw))
	for i, v := range ema(ys, smoothingFor(len(ys))) {
		sm[i] = plotter.XY{X: raw[i].X, Y: v}
	}
	if len(ms) == 0 {
		loss.Title.Text = "Loss (press Start)"
	}
	addLine(loss, finite(raw), pal.raw, vg.Points(1), "train", w/2, true)
	addLine(loss, finite(sm), pal.smooth, vg.Points(2), "smoothed", w/3, false)
	if ev := finite(evals); len(ev) > 0 {
		addLine(loss, ev, pal.eval, vg.Points(1.5), "", w/3, false)
		sc, err := plotter.NewScatter(ev)
		if err == nil {
			sc.GlyphStyle.Color, sc.GlyphStyle.Radius, sc.GlyphStyle.Shape = pal.eval, vg.Points(2.5), draw.CircleGlyph{}
			loss.Add(sc)
			loss.Legend.Add("validation", sc)
		}
	}
	addLine(lr, finite(rates), pal.lr, vg.Points(1.5), "", w/3, false)
	alignX(loss, lr, ms)
	c := newCanvas(w, h, dpi, pal.bg)
	split(c, loss, lr, 0.68)
	return rgba(c)
}

// renderThroughput draws tokens/s above and resident memory below.
func renderThroughput(ms []app.Metrics, w, h int, dpi float64, pal palette) *image.RGBA {
	fs := vg.Points(11)
	tps := plot.New()
	style(tps, pal, fs)
	tps.Title.Text = "Speed and memory"
	tps.Y.Label.Text = "tokens/s"
	mem := plot.New()
	style(mem, pal, fs)
	mem.X.Label.Text = "step"
	mem.Y.Label.Text = "memory (MiB)"
	var t, m plotter.XYs
	var ys []float64
	for _, x := range ms {
		t = append(t, plotter.XY{X: float64(x.Step), Y: x.TokensPerSec})
		ys = append(ys, x.TokensPerSec)
		m = append(m, plotter.XY{X: float64(x.Step), Y: float64(x.MemoryBytes) / (1 << 20)})
	}
	sm := make(plotter.XYs, len(t))
	for i, v := range ema(ys, smoothingFor(len(ys))) {
		sm[i] = plotter.XY{X: t[i].X, Y: v}
	}
	addLine(tps, finite(t), pal.raw, vg.Points(1), "", w/2, true)
	addLine(tps, finite(sm), pal.smooth, vg.Points(2), "", w/3, false)
	addLine(mem, finite(m), pal.mem, vg.Points(1.5), "", w/3, false)
	mem.Y.Min = 0
	tps.Y.Min = 0
	alignX(tps, mem, ms)
	c := newCanvas(w, h, dpi, pal.bg)
	split(c, tps, mem, 0.6)
	return rgba(c)
}

// compareRun is one run of an overlay chart.
type compareRun struct {
	Name    string
	Metrics []app.Metrics
	dir     string // the run directory the metrics come from
}

// renderCompare overlays the smoothed training loss (and validation
// points) of several runs.
func renderCompare(runs []compareRun, w, h int, dpi float64, pal palette) *image.RGBA {
	p := plot.New()
	style(p, pal, vg.Points(11))
	p.Title.Text = "Loss by run"
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss (smoothed)"
	for k, r := range runs {
		col := pal.compare[k%len(pal.compare)]
		var xys plotter.XYs
		var ys []float64
		var ev plotter.XYs
		for _, m := range r.Metrics {
			xys = append(xys, plotter.XY{X: float64(m.Step), Y: m.Loss})
			ys = append(ys, m.Loss)
			if m.EvalLoss != nil {
				ev = append(ev, plotter.XY{X: float64(m.Step), Y: *m.EvalLoss})
			}
		}
		for i, v := range ema(ys, smoothingFor(len(ys))) {
			xys[i].Y = v
		}
		addLine(p, finite(xys), col, vg.Points(2), r.Name, w/3, false)
		if ev = finite(ev); len(ev) > 0 {
			if sc, err := plotter.NewScatter(ev); err == nil {
				sc.GlyphStyle.Color, sc.GlyphStyle.Radius, sc.GlyphStyle.Shape = col, vg.Points(2.5), draw.CircleGlyph{}
				p.Add(sc)
			}
		}
	}
	switch len(runs) {
	case 0:
		p.Title.Text = "Loss by run (select a run, or tick runs to compare)"
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	case 1:
		p.Title.Text = "Loss of " + runs[0].Name
	}
	c := newCanvas(w, h, dpi, pal.bg)
	p.Draw(draw.New(c))
	return rgba(c)
}

// smoothingFor picks the EMA weight for a series length: light smoothing
// for short runs, more for long ones.
func smoothingFor(n int) float64 {
	switch {
	case n < 20:
		return 0.5
	case n < 200:
		return 0.8
	}
	return 0.95
}

// alignX gives both plots the same step range.
func alignX(a, b *plot.Plot, ms []app.Metrics) {
	if len(ms) == 0 {
		a.X.Min, a.X.Max, b.X.Min, b.X.Max = 0, 1, 0, 1
		a.Y.Min, a.Y.Max, b.Y.Min, b.Y.Max = 0, 1, 0, 1
		return
	}
	lo, hi := float64(ms[0].Step), float64(ms[len(ms)-1].Step)
	if t := float64(ms[len(ms)-1].TotalSteps); t > hi {
		hi = t
	}
	if hi <= lo {
		hi = lo + 1
	}
	a.X.Min, a.X.Max, b.X.Min, b.X.Max = lo, hi, lo, hi
}

// compactTicks labels the axis with short numbers (2e-4, 1.5e-3).
type compactTicks struct{}

// Ticks returns the default ticks with compact labels.
func (compactTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = fmt.Sprintf("%.2g", ts[i].Value)
		}
	}
	return ts
}

// chartView shows a rendered chart image and remembers its size, so the
// renderer (off the UI goroutine) can draw at the pixel size shown.
type chartView struct {
	widget.BaseWidget
	img   *canvas.Image
	size  atomic.Value // fyne.Size
	scale atomic.Value // float32
	// onResize is called (on the UI goroutine) when the size changes.
	onResize func()
}

func newChartView(min fyne.Size) *chartView {
	c := &chartView{img: canvas.NewImageFromImage(image.NewRGBA(image.Rect(0, 0, 1, 1)))}
	c.img.FillMode = canvas.ImageFillContain
	c.img.ScaleMode = canvas.ImageScaleFastest
	c.img.SetMinSize(min)
	c.size.Store(min)
	c.scale.Store(float32(1))
	c.ExtendBaseWidget(c)
	return c
}

// CreateRenderer returns the widget's renderer.
func (c *chartView) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(c.img) }

// Resize records the new size and asks for a new render.
func (c *chartView) Resize(s fyne.Size) {
	old := c.size.Load().(fyne.Size)
	c.BaseWidget.Resize(s)
	c.size.Store(s)
	if cv := fyne.CurrentApp().Driver().CanvasForObject(c); cv != nil {
		c.scale.Store(cv.Scale())
	}
	if (old.Width != s.Width || old.Height != s.Height) && c.onResize != nil {
		c.onResize()
	}
}

// pixels is the size to render at: the widget's size in pixels, bounded.
func (c *chartView) pixels() (w, h int, dpi float64) {
	s := c.size.Load().(fyne.Size)
	sc := float64(c.scale.Load().(float32))
	if sc <= 0 {
		sc = 1
	}
	w = min(max(int(float64(s.Width)*sc), 200), 2400)
	h = min(max(int(float64(s.Height)*sc), 120), 1600)
	return w, h, 96 * sc
}

// set shows a new image; call on the UI goroutine.
func (c *chartView) set(img image.Image) {
	c.img.Image = img
	c.img.Refresh()
}

// current is the image shown.
func (c *chartView) current() image.Image { return c.img.Image }

// throttle runs fn at most once per interval, never twice at once, and
// always once more after the last Trigger: a burst of triggers costs one
// or two runs. Nothing runs, and no goroutine waits, while it is idle.
type throttle struct {
	interval time.Duration
	fn       func()

	mu      sync.Mutex
	dirty   bool
	running bool
}

func newThrottle(interval time.Duration, fn func()) *throttle {
	return &throttle{interval: interval, fn: fn}
}

// Trigger asks for a run.
func (t *throttle) Trigger() {
	t.mu.Lock()
	t.dirty = true
	if t.running {
		t.mu.Unlock()
		return
	}
	t.running = true
	t.mu.Unlock()
	go t.loop()
}

func (t *throttle) loop() {
	for {
		t.mu.Lock()
		if !t.dirty {
			t.running = false
			t.mu.Unlock()
			return
		}
		t.dirty = false
		t.mu.Unlock()
		start := time.Now()
		t.fn()
		if d := t.interval - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
}
