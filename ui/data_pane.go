package ui

import (
	"fmt"
	"path/filepath"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fynetune/fynetune/app"
)

// dataPane shows the open dataset: format, counts, a preview with the
// scored tokens in a second colour, and the bad records with their lines.
type dataPane struct {
	w       *Workbench
	content fyne.CanvasObject
	title   *widget.Label
	fields  map[string]*widget.Label
	recent  *widget.Select
	preview *widget.RichText
	bad     *widget.Label
	badCard *widget.Card
	errText *widget.Label
}

var dataFields = []string{"File", "Format", "Template", "Records", "Rows", "Tokens", "Scored tokens", "Truncated", "Notes"}

func newDataPane(w *Workbench) *dataPane {
	p := &dataPane{w: w, fields: map[string]*widget.Label{}}
	p.title = widget.NewLabelWithStyle("No dataset open", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	form := widget.NewForm()
	for _, f := range dataFields {
		l := widget.NewLabel("—")
		l.Wrapping = fyne.TextWrapWord
		p.fields[f] = l
		form.Append(f, l)
	}
	open := widget.NewButtonWithIcon("Open dataset…", theme.FileIcon(), p.openDialog)
	open.Importance = widget.HighImportance
	p.recent = widget.NewSelect(nil, func(s string) {
		if s != "" && s != w.dataPath {
			w.setData(s)
		}
	})
	p.recent.PlaceHolder = "Recent datasets"
	hint := widget.NewLabel("Text (.txt), JSON/JSONL (text, prompt/completion, alpaca, chat messages, ShareGPT) or CSV. Prompt tokens are shown plain, scored (trained) tokens highlighted.")
	hint.Wrapping = fyne.TextWrapWord
	p.errText = widget.NewLabel("")
	p.errText.Wrapping = fyne.TextWrapWord
	p.errText.Importance = widget.DangerImportance
	p.errText.Hide()
	p.preview = widget.NewRichText()
	p.preview.Wrapping = fyne.TextWrapWord
	p.bad = widget.NewLabel("")
	p.bad.Wrapping = fyne.TextWrapWord
	p.bad.TextStyle.Monospace = true
	p.badCard = widget.NewCard("Bad records", "skipped when training; fix them in the file", p.bad)
	p.badCard.Hide()
	legend := widget.NewRichText(
		&widget.TextSegment{Text: "prompt (not scored)  ", Style: widget.RichTextStyle{Inline: true}},
		&widget.TextSegment{Text: "response (scored)", Style: widget.RichTextStyle{Inline: true, ColorName: theme.ColorNamePrimary}},
	)
	body := container.NewVBox(p.errText, form, p.badCard,
		widget.NewCard("Preview", "the first records as the model sees them", container.NewVBox(legend, p.preview)))
	top := container.NewVBox(container.NewHBox(open), p.recent, hint, widget.NewSeparator(), p.title)
	p.content = container.NewBorder(top, nil, nil, nil, container.NewVScroll(body))
	return p
}

func (p *dataPane) openDialog() {
	start := p.w.dataPath
	if start == "" && p.w.demo != nil {
		start = filepath.Dir(p.w.demo.Data)
	}
	p.w.choose(chooseFile, "Open dataset", start, "", []string{"jsonl", "json", "txt", "csv", "tsv"}, p.w.setData)
}

func (p *dataPane) setRecent(list []string) {
	p.recent.Options = list
	p.recent.Refresh()
}

func (p *dataPane) loading(path string) {
	p.title.SetText("Reading " + path + " …")
}

// failed shows why a dataset cannot be used, with any bad records found.
func (p *dataPane) failed(path string, st *app.DataStats, err error) {
	p.title.SetText(filepath.Base(path) + ": cannot be used")
	p.errText.SetText(err.Error())
	p.errText.Show()
	for _, f := range dataFields {
		p.fields[f].SetText("—")
	}
	p.fields["File"].SetText(path)
	p.preview.Segments = nil
	p.preview.Refresh()
	p.showBad(st)
}

func (p *dataPane) showBad(st *app.DataStats) {
	if st == nil || len(st.Bad) == 0 {
		p.bad.SetText("")
		p.badCard.Hide()
		return
	}
	var b strings.Builder
	const shown = 50
	for i, e := range st.Bad {
		if i == shown {
			fmt.Fprintf(&b, "… and %d more\n", len(st.Bad)-shown)
			break
		}
		b.WriteString(badLine(e.File, e.Line, e.Field, e.Msg))
		b.WriteByte('\n')
	}
	p.bad.SetText(strings.TrimSpace(b.String()))
	p.badCard.SetSubTitle(fmt.Sprintf("%d records skipped when training; fix them in the file", len(st.Bad)))
	p.badCard.Show()
}

// badLine formats one bad record: "line 12: field "output": missing".
func badLine(file string, line int, field, msg string) string {
	var b strings.Builder
	if line > 0 {
		fmt.Fprintf(&b, "line %d: ", line)
	} else {
		b.WriteString(filepath.Base(file) + ": ")
	}
	if field != "" {
		fmt.Fprintf(&b, "field %q: ", field)
	}
	b.WriteString(msg)
	return b.String()
}

func (p *dataPane) show(st *app.DataStats) {
	p.errText.Hide()
	p.title.SetText(filepath.Base(st.Path))
	set := func(k, v string) { p.fields[k].SetText(v) }
	set("File", st.Path)
	set("Format", string(st.Format)+" ("+string(st.Mode)+" rows)")
	set("Template", st.Template)
	set("Records", fmt.Sprintf("%d good (%d training, %d validation), %d bad", st.Records, st.TrainRecords, st.ValRecords, len(st.Bad)))
	set("Rows", fmt.Sprintf("%d training, %d validation, of up to %d tokens", st.TrainExamples, st.ValExamples, st.SeqLen))
	set("Tokens", fmt.Sprintf("%d in all, %.1f per record on average, longest %d", st.Tokens, st.MeanTokens, st.MaxTokens))
	set("Scored tokens", fmt.Sprint(st.ScoredTokens))
	tr := fmt.Sprintf("%d examples cut to the max length", st.Truncated)
	if st.Truncated > 0 {
		tr += fmt.Sprintf(" (raise Max length above %d in Configure to keep them whole)", st.MaxTokens)
	}
	set("Truncated", tr)
	notes := strings.Join(st.Warnings, "\n")
	if st.SplitTokenized > 0 {
		notes = strings.TrimSpace(notes + fmt.Sprintf("\n%d examples tokenized in parts at the prompt/response boundary", st.SplitTokenized))
	}
	if notes == "" {
		notes = "—"
	}
	set("Notes", notes)
	p.showBad(st)
	p.preview.Segments = previewSegments(st)
	p.preview.Refresh()
}

// previewSegments renders the preview records: prompt text plain, scored
// text in the primary colour, truncated tokens struck through (dimmed).
func previewSegments(st *app.DataStats) []widget.RichTextSegment {
	var segs []widget.RichTextSegment
	for i, pv := range st.Preview {
		head := fmt.Sprintf("Record at line %d — %d tokens", pv.Line, pv.TotalTokens)
		if pv.Truncated {
			head += " (truncated)"
		}
		if i > 0 {
			segs = append(segs, &widget.SeparatorSegment{})
		}
		segs = append(segs, &widget.TextSegment{Text: head, Style: widget.RichTextStyleSubHeading})
		var line []widget.RichTextSegment
		for _, s := range pv.Segments {
			style := widget.RichTextStyle{Inline: true, TextStyle: fyne.TextStyle{Monospace: true}}
			if s.Scored {
				// colour only: the themes have no bold monospace face
				style.ColorName = theme.ColorNamePrimary
			}
			// one RichText segment per line, so newlines in the text
			// break lines
			parts := strings.Split(s.Text, "\n")
			for k, part := range parts {
				if part != "" {
					line = append(line, &widget.TextSegment{Text: part, Style: style})
				}
				if k < len(parts)-1 {
					line = append(line, &widget.TextSegment{Text: "↵", Style: widget.RichTextStyle{Inline: false, ColorName: theme.ColorNameDisabled}})
				}
			}
		}
		segs = append(segs, line...)
		segs = append(segs, &widget.TextSegment{Text: "", Style: widget.RichTextStyleParagraph})
	}
	if len(segs) == 0 {
		segs = append(segs, &widget.TextSegment{Text: "(no preview)"})
	}
	return segs
}
