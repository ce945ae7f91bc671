package ui

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fynetune/fynetune/app"
)

// noAdapter is the adapter choice that compares nothing.
const noAdapter = "(none)"

// chatPane asks the base model and the adapter the same question with the
// same sampling seed and shows both answers side by side as they stream.
type chatPane struct {
	w       *Workbench
	content fyne.CanvasObject

	prompt                       *widget.Entry
	samples, format, adapter     *widget.Select
	temp, topK, topP, maxT, seed *widget.Entry
	sendBtn, stopBtn             *widget.Button
	baseOut, tunedOut            *widget.Label
	state                        *widget.Label

	adapters map[string]string // label -> adapter folder

	mu       sync.Mutex // guards the fields below (generation goroutine)
	chat     *app.Chat
	chatKey  string // model dir + bits the chat was loaded for
	cancel   context.CancelFunc
	busy     bool
	baseText strings.Builder
	tuneText strings.Builder
	flush    *throttle
}

func newChatPane(w *Workbench) *chatPane {
	p := &chatPane{w: w, adapters: map[string]string{}}
	p.prompt = widget.NewMultiLineEntry()
	p.prompt.SetPlaceHolder("Ask something. For the demo: Q: What color is the grass?\\nA:")
	p.prompt.SetMinRowsVisible(3)
	p.samples = widget.NewSelect(nil, func(s string) {
		if s != "" {
			p.prompt.SetText(strings.ReplaceAll(s, "⏎ ", "\n"))
		}
	})
	p.samples.PlaceHolder = "Sample prompts"
	p.format = widget.NewSelect(app.PromptFormats, nil)
	p.format.SetSelected("auto")
	p.adapter = widget.NewSelect([]string{noAdapter}, nil)
	p.adapter.SetSelected(noAdapter)
	pick := widget.NewButtonWithIcon("Adapter folder…", theme.FolderOpenIcon(), func() {
		w.choose(chooseFolder, "Open adapter folder", w.settings.RunsDir(), "", nil, p.useAdapter)
	})
	entry := func(v string) *widget.Entry {
		e := widget.NewEntry()
		e.SetText(v)
		return e
	}
	p.temp, p.topK, p.topP, p.maxT, p.seed = entry("0"), entry("40"), entry("0.95"), entry("48"), entry("1")
	p.sendBtn = widget.NewButtonWithIcon("Ask both", theme.MailSendIcon(), p.send)
	p.sendBtn.Importance = widget.HighImportance
	p.stopBtn = widget.NewButtonWithIcon("Stop", theme.MediaStopIcon(), p.stopGen)
	p.stopBtn.Disable()
	p.baseOut = widget.NewLabel("")
	p.baseOut.Wrapping = fyne.TextWrapWord
	p.tunedOut = widget.NewLabel("")
	p.tunedOut.Wrapping = fyne.TextWrapWord
	p.state = widget.NewLabel("")
	p.state.Truncation = fyne.TextTruncateEllipsis
	p.flush = newThrottle(50*time.Millisecond, p.flushText)

	sampling := container.NewHBox(
		widget.NewLabel("Temperature (0: greedy)"), sized(p.temp, 60), widget.NewLabel("Top-k"), sized(p.topK, 60),
		widget.NewLabel("Top-p"), sized(p.topP, 60), widget.NewLabel("Max tokens"), sized(p.maxT, 60),
		widget.NewLabel("Seed"), sized(p.seed, 60))
	settings := widget.NewForm(
		widget.NewFormItem("Prompt format", p.format),
		widget.NewFormItem("Adapter", container.NewBorder(nil, nil, nil, pick, p.adapter)),
		widget.NewFormItem("Sampling", sampling),
	)
	top := container.NewVBox(p.samples, p.prompt, settings, container.NewHBox(p.sendBtn, p.stopBtn), p.state)
	outs := container.NewGridWithColumns(2,
		widget.NewCard("Base model", "", container.NewVScroll(p.baseOut)),
		widget.NewCard("With adapter", "same seed", container.NewVScroll(p.tunedOut)))
	p.content = container.NewBorder(top, nil, nil, nil, outs)
	w.win.Canvas().AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyReturn, Modifier: fyne.KeyModifierShortcutDefault | fyne.KeyModifierShift}, func(fyne.Shortcut) { p.send() })
	return p
}

// sized gives an entry a fixed width.
func sized(o fyne.CanvasObject, width float32) fyne.CanvasObject {
	return container.NewGridWrap(fyne.NewSize(width, o.MinSize().Height), o)
}

// setSamples offers sample prompts (newlines shown as ⏎).
func (p *chatPane) setSamples(list []string) {
	var opts []string
	for _, s := range list {
		opts = append(opts, strings.ReplaceAll(s, "\n", "⏎ "))
	}
	p.samples.Options = opts
	p.samples.Refresh()
	if p.prompt.Text == "" && len(list) > 0 {
		p.prompt.SetText(list[0])
	}
}

// useAdapter makes an adapter folder the one compared with the base.
func (p *chatPane) useAdapter(dir string) {
	label := filepath.Base(dir)
	if parent := filepath.Base(filepath.Dir(dir)); parent != "." && parent != "/" {
		label = parent + "/" + label
	}
	if _, ok := p.adapters[label]; !ok {
		p.adapter.Options = append(p.adapter.Options, label)
	}
	p.adapters[label] = dir
	p.adapter.SetSelected(label)
}

// modelChanged drops the chat model; the next question loads the new one.
func (p *chatPane) modelChanged() {
	p.mu.Lock()
	busy := p.busy
	p.mu.Unlock()
	if !busy {
		p.close()
	}
}

// close releases the chat model.
func (p *chatPane) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		p.cancel()
	}
	if p.chat != nil && !p.busy {
		p.chat.Close()
		p.chat, p.chatKey = nil, ""
	}
}

// options reads the sampling settings.
func (p *chatPane) options() (app.SampleOptions, error) {
	var o app.SampleOptions
	var errs []string
	pf := func(name string, e *widget.Entry, dst *float64) {
		v, err := strconv.ParseFloat(strings.TrimSpace(e.Text), 64)
		if err != nil || v < 0 {
			errs = append(errs, fmt.Sprintf("%s: %q is not a number ≥ 0", name, e.Text))
		}
		*dst = v
	}
	pi := func(name string, e *widget.Entry, dst *int) {
		v, err := strconv.Atoi(strings.TrimSpace(e.Text))
		if err != nil || v < 0 {
			errs = append(errs, fmt.Sprintf("%s: %q is not a whole number ≥ 0", name, e.Text))
		}
		*dst = v
	}
	pf("Temperature", p.temp, &o.Temperature)
	pi("Top-k", p.topK, &o.TopK)
	pf("Top-p", p.topP, &o.TopP)
	pi("Max tokens", p.maxT, &o.MaxTokens)
	s, err := strconv.ParseUint(strings.TrimSpace(p.seed.Text), 10, 64)
	if err != nil {
		errs = append(errs, fmt.Sprintf("Seed: %q is not a whole number ≥ 0", p.seed.Text))
	}
	o.Seed, o.StopAtEOS = s, true
	if len(errs) > 0 {
		return o, errors.New("sampling: " + strings.Join(errs, "; "))
	}
	return o, nil
}

// send asks the base model, then the adapter, the prompt (off the UI
// goroutine), streaming both answers.
func (p *chatPane) send() {
	w := p.w
	if w.modelDir == "" {
		w.showError(errors.New("open a model first (File > Open model…, or the demo)"))
		return
	}
	prompt := p.prompt.Text
	if strings.TrimSpace(prompt) == "" {
		w.showError(errors.New("type a prompt first"))
		return
	}
	opt, err := p.options()
	if err != nil {
		w.showError(err)
		return
	}
	adapterDir := p.adapters[p.adapter.Selected]
	format := p.format.Selected
	bits := w.config.bitWidth()
	modelDir := w.modelDir
	backend := "auto"
	if c, err := w.config.get(); err == nil {
		backend = c.Backend
	}
	p.mu.Lock()
	if p.busy {
		p.mu.Unlock()
		return
	}
	p.busy = true
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.baseText.Reset()
	p.tuneText.Reset()
	p.mu.Unlock()
	p.baseOut.SetText("")
	if adapterDir == "" {
		p.tunedOut.SetText("(no adapter: train a run, or pick one in Runs or with Adapter folder…)")
	} else {
		p.tunedOut.SetText("")
	}
	p.sendBtn.Disable()
	p.stopBtn.Enable()
	go func() {
		err := p.generate(ctx, modelDir, backend, bits, adapterDir, format, prompt, opt)
		p.mu.Lock()
		p.busy = false
		p.cancel = nil
		p.mu.Unlock()
		cancel()
		p.flush.Trigger()
		do(func() {
			p.sendBtn.Enable()
			p.stopBtn.Disable()
			if err != nil && !errors.Is(err, context.Canceled) {
				p.state.SetText("")
				w.showError(err)
				return
			}
			p.state.SetText("Done. Same prompt, same seed: the difference is the adapter.")
		})
	}()
}

// generate runs both generations; it loads the model (once) and switches
// the adapter without reloading it.
func (p *chatPane) generate(ctx context.Context, modelDir, backend string, bits int, adapterDir, format, prompt string, opt app.SampleOptions) error {
	key := fmt.Sprintf("%s|%s|%d", modelDir, backend, bits)
	p.mu.Lock()
	c := p.chat
	if c != nil && p.chatKey != key {
		c.Close()
		c, p.chat = nil, nil
	}
	p.mu.Unlock()
	if c == nil {
		do(func() { p.state.SetText("Loading " + filepath.Base(modelDir) + " …") })
		var err error
		if c, err = app.OpenChat(modelDir, backend, bits); err != nil {
			return err
		}
		p.mu.Lock()
		p.chat, p.chatKey = c, key
		p.mu.Unlock()
	}
	if err := c.SetAdapter(adapterDir); err != nil {
		return fmt.Errorf("adapter %s: %w", adapterDir, err)
	}
	do(func() { p.state.SetText("Base model answering…") })
	_, err := c.Generate(ctx, format, prompt, false, opt, func(s string) bool {
		p.mu.Lock()
		p.baseText.WriteString(s)
		p.mu.Unlock()
		p.flush.Trigger()
		return true
	})
	if err != nil || adapterDir == "" {
		return err
	}
	do(func() { p.state.SetText("Adapter answering…") })
	_, err = c.Generate(ctx, format, prompt, true, opt, func(s string) bool {
		p.mu.Lock()
		p.tuneText.WriteString(s)
		p.mu.Unlock()
		p.flush.Trigger()
		return true
	})
	return err
}

// flushText shows the text streamed so far (throttled).
func (p *chatPane) flushText() {
	p.mu.Lock()
	base, tuned := p.baseText.String(), p.tuneText.String()
	p.mu.Unlock()
	do(func() {
		p.baseOut.SetText(base)
		if tuned != "" {
			p.tunedOut.SetText(tuned)
		}
	})
}

func (p *chatPane) stopGen() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		p.cancel()
	}
}
