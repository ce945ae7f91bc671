package data

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Mode says how records become rows.
type Mode string

// The modes. ModeAuto uses ModeLM for plain-text files and ModeExamples for
// everything else.
const (
	ModeAuto Mode = "auto"
	// ModeLM concatenates the documents (each BOS-prefixed when the
	// tokenizer adds BOS, and followed by EOS) and cuts the stream into
	// non-overlapping windows of SeqLen+1 tokens, all scored.
	ModeLM Mode = "lm"
	// ModeExamples makes one row per record (or packs several per row).
	ModeExamples Mode = "examples"
)

// Config says which dataset to load and how.
type Config struct {
	// Path is the training file.
	Path string
	// ReadOptions: format, text split, CSV columns, SkipBad. They apply to
	// both files.
	ReadOptions
	// ValPath is an optional validation file (in place of ValFraction).
	ValPath string
	// ValFraction holds out this fraction [0, 1) of the training file for
	// validation: records chosen by Seed in ModeExamples, the last windows of
	// the token stream in ModeLM.
	ValFraction float64
	// Template names the prompt/chat template (see Templates); "" is auto.
	Template string
	// Mode: "" is ModeAuto.
	Mode Mode
	// SeqLen is the number of positions per row (> 0); a row holds
	// SeqLen+1 tokens.
	SeqLen int
	// Truncate cuts examples longer than a row; when false such an example
	// is a bad record.
	Truncate bool
	// Pack puts several short examples in one row (ModeExamples), in an
	// order shuffled by Seed.
	Pack bool
	// Seed drives the validation split and the packing order.
	Seed uint64
	// PreviewCount is the number of records to preview in Stats (0: 3;
	// negative: none).
	PreviewCount int
}

// Dataset is a loaded dataset.
type Dataset struct {
	// Train and Val are the rows, each at most SeqLen positions.
	Train, Val []Example
	// Template is the template used (nil for text-only data).
	Template Template
	// Stats describe what was loaded.
	Stats Stats
}

// Stats describe a loaded dataset, for the GUI and the logs.
type Stats struct {
	Path    string // training file
	ValPath string // validation file, if any
	Format  Format // format used (detected or chosen)
	// Template is the name of the template used ("none" for text).
	Template string
	// Mode is the mode used (ModeAuto resolved).
	Mode Mode
	// SeqLen is the row length the rows were cut for.
	SeqLen int
	// Records is the number of good records read (both files);
	// TrainRecords and ValRecords split it.
	Records, TrainRecords, ValRecords int
	// Bad lists the records skipped (ReadOptions.SkipBad): unreadable ones
	// and ones that could not be rendered or were too long.
	Bad []RecordError
	// Tokens, MeanTokens and MaxTokens count the tokens per good record
	// before truncation (per document in ModeLM).
	Tokens     int64   // total
	MeanTokens float64 // per record
	MaxTokens  int     // longest record
	// ScoredTokens is the number of scored positions in all rows.
	ScoredTokens int64
	// Truncated is the number of examples cut to fit a row.
	Truncated int
	// SplitTokenized is the number of examples whose segments were
	// tokenized one by one (see the package documentation).
	SplitTokenized int
	// TrainExamples and ValExamples are the numbers of rows.
	TrainExamples, ValExamples int
	// Warnings are notes for the user (a template fallback, ...).
	Warnings []string
	// Preview shows the first records as rendered and tokenized.
	Preview []Preview
}

// Preview is one record as the model will see it.
type Preview struct {
	Source string // the file
	Line   int    // the record's line
	// Segments are the rendered text in order, each scored or not (with
	// any EOS the encoder appended at the end of a turn).
	Segments []PreviewSegment
	// Tokens are the record's tokens, in order (at most PreviewTokenLimit).
	Tokens []PreviewToken
	// TotalTokens is the number of tokens of the record.
	TotalTokens int
	// Truncated says the tokens marked Dropped do not fit in a row.
	Truncated bool
	// Clipped says the preview shows only the start of a long record
	// (PreviewTextLimit bytes of text, PreviewTokenLimit tokens).
	Clipped bool
}

// The size limits of a Preview.
const (
	PreviewTextLimit  = 64 << 10
	PreviewTokenLimit = 4096
)

// PreviewSegment is a piece of rendered text.
type PreviewSegment struct {
	Text   string // rendered text
	Scored bool   // its tokens are targets
}

// PreviewToken is one token of a preview.
type PreviewToken struct {
	ID      int    // token id
	Text    string // the tokenizer's string for the token
	Scored  bool   // the token is a target
	Dropped bool   // cut off by truncation
}

// Load reads, renders, tokenizes and splits a dataset. A bad record is an
// error naming its file and line, unless SkipBad is set: then it is listed
// in Stats.Bad and left out.
func Load(cfg Config, tok Tokenizer) (*Dataset, error) {
	if cfg.SeqLen <= 0 {
		return nil, fmt.Errorf("seq-len must be > 0, got %d", cfg.SeqLen)
	}
	if cfg.ValFraction < 0 || cfg.ValFraction >= 1 || math.IsNaN(cfg.ValFraction) {
		return nil, fmt.Errorf("validation fraction must be in [0, 1), got %v", cfg.ValFraction)
	}
	if cfg.ValPath != "" && cfg.ValFraction > 0 {
		return nil, errors.New("give a validation file or a validation fraction, not both")
	}
	train, err := ReadFile(cfg.Path, cfg.ReadOptions)
	if err != nil {
		return nil, err
	}
	var val *ReadResult
	if cfg.ValPath != "" {
		if val, err = ReadFile(cfg.ValPath, cfg.ReadOptions); err != nil {
			return nil, err
		}
	}
	mode := cfg.Mode
	switch mode {
	case "", ModeAuto:
		mode = ModeExamples
		if train.Format == FormatText {
			mode = ModeLM
		}
	case ModeLM, ModeExamples:
	default:
		return nil, fmt.Errorf("unknown mode %q (want auto, lm or examples)", cfg.Mode)
	}
	l := &loader{cfg: cfg, tok: tok, sp: SpecialsOf(tok), enc: NewEncoder(tok), ds: &Dataset{}}
	st := &l.ds.Stats
	st.Path, st.ValPath, st.Format, st.Mode, st.SeqLen = cfg.Path, cfg.ValPath, train.Format, mode, cfg.SeqLen
	st.Bad = append(st.Bad, train.Bad...)
	if val != nil {
		st.Bad = append(st.Bad, val.Bad...)
	}

	kind := train.Records[0].Kind
	if mode == ModeLM {
		kind = KindText
	}
	st.Template = TemplateNone
	if kind != KindText {
		t, warning, err := ResolveTemplate(cfg.Template, kind, tok.ChatTemplate())
		if err != nil {
			return nil, err
		}
		if warning != "" {
			st.Warnings = append(st.Warnings, warning)
		}
		l.ds.Template, st.Template = t, t.Name()
	}

	if mode == ModeLM {
		err = l.loadLM(train, val)
	} else {
		err = l.loadExamples(train, val)
	}
	if err != nil {
		return nil, err
	}
	st.TrainExamples, st.ValExamples = len(l.ds.Train), len(l.ds.Val)
	for _, set := range [][]Example{l.ds.Train, l.ds.Val} {
		for i := range set {
			st.ScoredTokens += int64(set[i].Scored())
		}
	}
	if n := st.Records; n > 0 {
		st.MeanTokens = float64(st.Tokens) / float64(n)
	}
	if len(l.ds.Train) == 0 {
		return nil, fmt.Errorf("%s: no training rows (%d records, %d bad)", cfg.Path, st.Records, len(st.Bad))
	}
	return l.ds, nil
}

type loader struct {
	cfg Config
	tok Tokenizer
	sp  Specials
	enc *Encoder
	ds  *Dataset
}

// encodeRecord renders and tokenizes one record; on failure it returns the
// error as a RecordError.
func (l *loader) encodeRecord(rec *Record) (*Encoded, *RecordError) {
	segs, err := RenderRecord(l.ds.Template, asText(rec, l.ds.Template == nil), l.sp)
	if err != nil {
		return nil, &RecordError{File: rec.Source, Line: rec.Line, Msg: err.Error()}
	}
	return l.enc.Encode(segs), nil
}

// count adds a good record to the statistics.
func (l *loader) count(enc *Encoded) {
	st := &l.ds.Stats
	st.Records++
	st.Tokens += int64(len(enc.IDs))
	st.MaxTokens = max(st.MaxTokens, len(enc.IDs))
	if enc.SplitTokenized {
		st.SplitTokenized++
	}
}

// asText turns a record into a text record for language modelling: its
// conversation's contents joined by blank lines.
func asText(rec *Record, lm bool) *Record {
	if !lm || rec.Kind == KindText {
		return rec
	}
	r := *rec
	r.Kind, r.Text = KindText, ""
	for i, m := range rec.Conversation() {
		if i > 0 {
			r.Text += "\n\n"
		}
		r.Text += m.Content
	}
	return &r
}

// bad records a bad record or returns it as the error.
func (l *loader) bad(e *RecordError) error {
	if !l.cfg.SkipBad {
		return e
	}
	l.ds.Stats.Bad = append(l.ds.Stats.Bad, *e)
	return nil
}

func (l *loader) preview(rec *Record, enc *Encoded, keep int) {
	n := l.cfg.PreviewCount
	if n == 0 {
		n = 3
	}
	if len(l.ds.Stats.Preview) >= n {
		return
	}
	p := Preview{Source: rec.Source, Line: rec.Line, Truncated: keep < len(enc.IDs), TotalTokens: len(enc.IDs)}
	size := 0
	for _, s := range enc.Segments {
		text := s.Text
		if size+len(text) > PreviewTextLimit {
			text = strings.ToValidUTF8(text[:PreviewTextLimit-size], "")
			p.Clipped = true
		}
		size += len(text)
		p.Segments = append(p.Segments, PreviewSegment{Text: text, Scored: s.Scored})
		if p.Clipped {
			break
		}
	}
	for i, id := range enc.IDs {
		if i == PreviewTokenLimit {
			p.Clipped = true
			break
		}
		p.Tokens = append(p.Tokens, PreviewToken{ID: id, Text: l.tok.TokenString(id), Scored: enc.Scored[i], Dropped: i >= keep})
	}
	l.ds.Stats.Preview = append(l.ds.Stats.Preview, p)
}

func (l *loader) loadExamples(train, val *ReadResult) error {
	st := &l.ds.Stats
	isVal := make([]bool, len(train.Records))
	if l.cfg.ValFraction > 0 {
		n := len(train.Records)
		k := int(math.Round(l.cfg.ValFraction * float64(n)))
		if k == 0 && n > 1 {
			k = 1
		}
		if k >= n {
			return fmt.Errorf("%s: a validation fraction of %v leaves no training records (%d records)", train.Path, l.cfg.ValFraction, n)
		}
		for _, i := range Permutation(n, l.cfg.Seed, streamSplit)[:k] {
			isVal[i] = true
		}
	}
	var trainSeqs, valSeqs []seq
	add := func(rec *Record, toVal, fromTrain bool) error {
		enc, e := l.encodeRecord(rec)
		if e != nil {
			return l.bad(e)
		}
		s, truncated, err := seqOf(enc, rec).fit(l.cfg.SeqLen, l.cfg.Truncate)
		if err != nil {
			return l.bad(&RecordError{File: rec.Source, Line: rec.Line, Msg: err.Error()})
		}
		l.count(enc)
		if fromTrain {
			l.preview(rec, enc, len(s.ids))
		}
		if truncated {
			st.Truncated++
		}
		if toVal {
			st.ValRecords++
			valSeqs = append(valSeqs, s)
		} else {
			st.TrainRecords++
			trainSeqs = append(trainSeqs, s)
		}
		return nil
	}
	for i := range train.Records {
		if err := add(&train.Records[i], isVal[i], true); err != nil {
			return err
		}
	}
	if val != nil {
		for i := range val.Records {
			if err := add(&val.Records[i], true, false); err != nil {
				return err
			}
		}
	}
	if l.cfg.Pack {
		Shuffle(trainSeqs, l.cfg.Seed, streamPack)
		trainSeqs = pack(trainSeqs, l.cfg.SeqLen, l.sp.EOS)
		valSeqs = pack(valSeqs, l.cfg.SeqLen, l.sp.EOS)
	}
	l.ds.Train = examples(trainSeqs)
	l.ds.Val = examples(valSeqs)
	return nil
}

func examples(seqs []seq) []Example {
	out := make([]Example, len(seqs))
	for i, s := range seqs {
		out[i] = s.example()
	}
	return out
}

func (l *loader) loadLM(train, val *ReadResult) error {
	st := &l.ds.Stats
	docs := func(res *ReadResult) ([]seq, error) {
		var out []seq
		for i := range res.Records {
			rec := &res.Records[i]
			enc, e := l.encodeRecord(rec)
			if e != nil {
				if err := l.bad(e); err != nil {
					return nil, err
				}
				continue
			}
			l.count(enc)
			if res == train {
				l.preview(rec, enc, len(enc.IDs))
			}
			out = append(out, seqOf(enc, rec))
		}
		return out, nil
	}
	trainDocs, err := docs(train)
	if err != nil {
		return err
	}
	st.TrainRecords = len(trainDocs)
	rows := windows(trainDocs, l.cfg.SeqLen)
	var valRows []seq
	switch {
	case val != nil:
		valDocs, err := docs(val)
		if err != nil {
			return err
		}
		st.ValRecords = len(valDocs)
		valRows = windows(valDocs, l.cfg.SeqLen)
	case l.cfg.ValFraction > 0:
		k := int(math.Round(l.cfg.ValFraction * float64(len(rows))))
		if k == 0 && len(rows) > 1 {
			k = 1
		}
		if k >= len(rows) {
			return fmt.Errorf("%s: a validation fraction of %v leaves no training windows (%d windows of %d tokens)",
				train.Path, l.cfg.ValFraction, len(rows), l.cfg.SeqLen+1)
		}
		rows, valRows = rows[:len(rows)-k], rows[len(rows)-k:]
	}
	l.ds.Train = examples(rows)
	l.ds.Val = examples(valRows)
	return nil
}

// BadLines returns the line numbers of the skipped records of one file, sorted.
func (s *Stats) BadLines(file string) []int {
	var lines []int
	for _, b := range s.Bad {
		if b.File == file {
			lines = append(lines, b.Line)
		}
	}
	sort.Ints(lines)
	return lines
}
