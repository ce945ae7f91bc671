package data

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// TextSplit says how a plain-text file is cut into documents.
type TextSplit string

// The ways to split a plain-text file. SplitAuto splits on <|endoftext|>
// lines when the file has any, else on blank lines.
const (
	SplitAuto      TextSplit = "auto"
	SplitEndOfText TextSplit = "endoftext" // lines equal to <|endoftext|> separate documents
	SplitBlank     TextSplit = "blank"     // one or more blank lines separate documents
	SplitLine      TextSplit = "line"      // every non-blank line is a document
	SplitNone      TextSplit = "none"      // the whole file is one document
)

// EndOfTextLine is the separator line of SplitEndOfText.
const EndOfTextLine = "<|endoftext|>"

// ReadOptions control how a dataset file is read.
type ReadOptions struct {
	// Format is the file's layout; "" or FormatAuto detects it.
	Format Format
	// TextSplit cuts plain-text files into documents; "" means SplitAuto.
	TextSplit TextSplit
	// TextColumn names the CSV column holding whole texts.
	TextColumn string
	// PromptColumn and CompletionColumn name the CSV columns of a
	// prompt/completion dataset.
	PromptColumn, CompletionColumn string
	// SkipBad skips bad records and lists them in ReadResult.Bad instead of
	// failing on the first one. Errors that make the rest of the file
	// unreadable (a JSON array whose syntax breaks) still fail.
	SkipBad bool
}

// ReadResult is what ReadFile found in a file.
type ReadResult struct {
	// Path is the file read.
	Path string
	// Format is the format used (detected when asked for FormatAuto).
	Format Format
	// Records are the good records in file order.
	Records []Record
	// Bad lists the skipped records (only with ReadOptions.SkipBad).
	Bad []RecordError
}

// ReadFile reads a dataset file; see Read.
func ReadFile(path string, opt ReadOptions) (*ReadResult, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Read(path, b, opt)
}

// Read parses dataset bytes; name is used for format detection (by its
// extension) and in errors. A bad record gives a *RecordError naming the file,
// the line and what was wrong, unless opt.SkipBad is set, in which case it is
// listed in ReadResult.Bad. A file without any good record is an error.
func Read(name string, data []byte, opt ReadOptions) (*ReadResult, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	format := opt.Format
	if format == "" {
		format = FormatAuto
	}
	if _, err := ParseFormat(string(format)); err != nil {
		return nil, err
	}
	r := &reader{name: name, data: data, opt: opt, res: &ReadResult{Path: name}}
	var err error
	switch {
	case format == FormatText || (format == FormatAuto && isTextName(name)):
		r.res.Format = FormatText
		err = r.readText()
	case format == FormatCSV || (format == FormatAuto && isCSVName(name)):
		r.res.Format = FormatCSV
		err = r.readCSV()
	default:
		err = r.readJSON(format)
	}
	if err != nil {
		return nil, err
	}
	if len(r.res.Records) == 0 {
		if len(r.res.Bad) > 0 {
			return nil, fmt.Errorf("%s: no good records (%d bad; first: %v)", name, len(r.res.Bad), &r.res.Bad[0])
		}
		return nil, fmt.Errorf("%s: no records", name)
	}
	return r.res, nil
}

func isTextName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".txt", ".text", ".md":
		return true
	}
	return false
}

func isCSVName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv", ".tsv":
		return true
	}
	return false
}

type reader struct {
	name  string
	data  []byte
	opt   ReadOptions
	res   *ReadResult
	lines []int // byte offsets of line starts, built on demand
}

// bad records a bad record; it returns the error to stop on, or nil to go on.
func (r *reader) bad(e *RecordError) error {
	if !r.opt.SkipBad {
		return e
	}
	r.res.Bad = append(r.res.Bad, *e)
	return nil
}

func (r *reader) add(rec Record) {
	rec.Source = r.name
	r.res.Records = append(r.res.Records, rec)
}

// lineOf returns the 1-based line holding byte offset off.
func (r *reader) lineOf(off int64) int {
	if r.lines == nil {
		r.lines = []int{0}
		for i, c := range r.data {
			if c == '\n' {
				r.lines = append(r.lines, i+1)
			}
		}
	}
	return sort.Search(len(r.lines), func(i int) bool { return int64(r.lines[i]) > off })
}

func (r *reader) errAt(line int, field, format string, args ...any) *RecordError {
	return &RecordError{File: r.name, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ---- plain text ----

func (r *reader) readText() error {
	text := strings.ReplaceAll(string(r.data), "\r\n", "\n")
	lines := strings.Split(text, "\n")
	split := r.opt.TextSplit
	if split == "" || split == SplitAuto {
		split = SplitBlank
		for _, l := range lines {
			if strings.TrimSpace(l) == EndOfTextLine {
				split = SplitEndOfText
				break
			}
		}
	}
	var doc []string
	start := 0
	flush := func() {
		// drop blank lines around the document
		for len(doc) > 0 && strings.TrimSpace(doc[0]) == "" {
			doc = doc[1:]
			start++
		}
		for len(doc) > 0 && strings.TrimSpace(doc[len(doc)-1]) == "" {
			doc = doc[:len(doc)-1]
		}
		if len(doc) > 0 {
			r.add(Record{Line: start + 1, Kind: KindText, Text: strings.Join(doc, "\n")})
		}
		doc = nil
	}
	switch split {
	case SplitEndOfText, SplitBlank:
		for i, l := range lines {
			sep := false
			if split == SplitEndOfText {
				sep = strings.TrimSpace(l) == EndOfTextLine
			} else {
				sep = strings.TrimSpace(l) == ""
			}
			if sep {
				flush()
				continue
			}
			if len(doc) == 0 {
				start = i
			}
			doc = append(doc, l)
		}
		flush()
	case SplitLine:
		for i, l := range lines {
			if strings.TrimSpace(l) != "" {
				r.add(Record{Line: i + 1, Kind: KindText, Text: l})
			}
		}
	case SplitNone:
		doc, start = lines, 0
		flush()
	default:
		return fmt.Errorf("%s: unknown text split %q (want auto, endoftext, blank, line or none)", r.name, split)
	}
	return nil
}

// ---- JSON and JSONL ----

func (r *reader) readJSON(format Format) error {
	trimmed := bytes.TrimLeft(r.data, " \t\r\n")
	if len(trimmed) == 0 {
		return fmt.Errorf("%s: empty file", r.name)
	}
	switch trimmed[0] {
	case '[':
		return r.readJSONArray(format)
	case '{':
		return r.readJSONL(format)
	}
	if format == FormatAuto && !hasJSONName(r.name) {
		r.res.Format = FormatText
		return r.readText()
	}
	return r.errAt(r.lineOf(int64(len(r.data)-len(trimmed))), "",
		"not JSON: a dataset file must be a JSON array of records or one JSON object per line (found %q)", firstRune(trimmed))
}

func hasJSONName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json", ".jsonl", ".ndjson":
		return true
	}
	return false
}

func firstRune(b []byte) string {
	s := string(b)
	for _, c := range s {
		return string(c)
	}
	return ""
}

func (r *reader) readJSONArray(format Format) error {
	dec := json.NewDecoder(bytes.NewReader(r.data))
	if _, err := dec.Token(); err != nil { // '['
		return r.syntaxErr(err, dec.InputOffset())
	}
	for i := 0; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return r.syntaxErr(err, dec.InputOffset())
		}
		start := dec.InputOffset() - int64(len(raw))
		line := r.lineOf(start)
		if err := r.record(&format, raw, line); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // ']'
		return r.syntaxErr(err, dec.InputOffset())
	}
	if tok, err := dec.Token(); err != io.EOF {
		off := dec.InputOffset()
		if err != nil {
			return r.syntaxErr(err, off)
		}
		return r.errAt(r.lineOf(off), "", "invalid JSON: unexpected %v after the closing ]", tok)
	}
	return nil
}

// syntaxErr turns a JSON decoding error of a whole-file array into a
// RecordError at the line where it happened. Such errors are always fatal:
// the records after a syntax error cannot be found.
func (r *reader) syntaxErr(err error, off int64) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		off = int64(len(r.data))
		err = errors.New("unexpected end of file")
	}
	return r.errAt(r.lineOf(max(off-1, 0)), "", "invalid JSON: %v", err)
}

func (r *reader) readJSONL(format Format) error {
	lineNo := 0
	for rest := r.data; len(rest) > 0; {
		var line []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, nil
		}
		lineNo++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			var v any
			err := json.Unmarshal(line, &v)
			if lineNo == 1 && json.Valid(r.data) {
				return r.errAt(1, "", "the file is one JSON value spread over lines; want a JSON array of records or one JSON object per line")
			}
			if e := r.bad(r.errAt(lineNo, "", "invalid JSON: %v", err)); e != nil {
				return e
			}
			continue
		}
		if err := r.record(&format, line, lineNo); err != nil {
			return err
		}
	}
	return nil
}

// record parses one JSON record; on the first record of an auto file it
// settles the format.
func (r *reader) record(format *Format, raw []byte, line int) error {
	if len(raw) == 0 || raw[0] != '{' {
		return r.bad(r.errAt(line, "", "want a JSON object, got %s", jsonType(raw)))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return r.bad(r.errAt(line, "", "invalid JSON: %v", err))
	}
	if *format == FormatAuto {
		f, err := formatFromKeys(m)
		if err != nil {
			return r.errAt(line, "", "%v; set the format explicitly", err)
		}
		*format = f
	}
	r.res.Format = *format
	f := fields{r: r, m: m, line: line}
	rec, e := f.parse(*format)
	if e != nil {
		return r.bad(e)
	}
	rec.Line = line
	r.add(rec)
	return nil
}

func formatFromKeys(m map[string]json.RawMessage) (Format, error) {
	has := func(k string) bool { _, ok := m[k]; return ok }
	switch {
	case has("messages"):
		return FormatChat, nil
	case has("conversations"):
		return FormatShareGPT, nil
	case has("instruction"):
		return FormatAlpaca, nil
	case has("prompt") && has("completion"):
		return FormatPromptCompletion, nil
	case has("text"):
		return FormatJSONLText, nil
	}
	return "", fmt.Errorf("cannot tell the format from the keys %s (want text, prompt/completion, instruction/input/output, messages or conversations)", keyList(m))
}

func keyList(m map[string]json.RawMessage) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "[" + strings.Join(keys, " ") + "]"
}

func jsonType(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

type fields struct {
	r    *reader
	m    map[string]json.RawMessage
	line int
}

// str reads a string field. A missing or null optional field is "".
func (f fields) str(m map[string]json.RawMessage, key, path string, required bool) (string, *RecordError) {
	raw, ok := m[key]
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		if !required {
			return "", nil
		}
		if !ok {
			return "", f.r.errAt(f.line, path, "missing (the record has %s)", keyList(m))
		}
		return "", f.r.errAt(f.line, path, "want a string, got null")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", f.r.errAt(f.line, path, "want a string, got %s", jsonType(raw))
	}
	return s, nil
}

// text reads a required string that must not be blank.
func (f fields) text(m map[string]json.RawMessage, key, path string) (string, *RecordError) {
	s, e := f.str(m, key, path, true)
	if e == nil && strings.TrimSpace(s) == "" {
		e = f.r.errAt(f.line, path, "empty text")
	}
	return s, e
}

func (f fields) parse(format Format) (Record, *RecordError) {
	var rec Record
	var e *RecordError
	switch format {
	case FormatJSONLText:
		rec.Kind = KindText
		rec.Text, e = f.text(f.m, "text", "text")
	case FormatPromptCompletion:
		rec.Kind = KindPromptCompletion
		if rec.Prompt, e = f.str(f.m, "prompt", "prompt", true); e == nil {
			rec.Completion, e = f.text(f.m, "completion", "completion")
		}
	case FormatAlpaca:
		rec.Kind = KindAlpaca
		if rec.Instruction, e = f.text(f.m, "instruction", "instruction"); e != nil {
			break
		}
		if rec.Input, e = f.str(f.m, "input", "input", false); e != nil {
			break
		}
		if rec.Output, e = f.text(f.m, "output", "output"); e != nil {
			break
		}
		rec.System, e = f.str(f.m, "system", "system", false)
	case FormatChat:
		rec.Kind = KindChat
		rec.Messages, e = f.messages("messages", "role", "content", chatRoles)
	case FormatShareGPT:
		rec.Kind = KindChat
		var system string
		if system, e = f.str(f.m, "system", "system", false); e != nil {
			break
		}
		rec.Messages, e = f.messages("conversations", "from", "value", shareGPTRoles)
		if e == nil && strings.TrimSpace(system) != "" {
			rec.Messages = append([]Message{{RoleSystem, system}}, rec.Messages...)
		}
	default:
		e = f.r.errAt(f.line, "", "format %q does not apply to JSON records", format)
	}
	return rec, e
}

var chatRoles = map[string]string{RoleSystem: RoleSystem, RoleUser: RoleUser, RoleAssistant: RoleAssistant}

var shareGPTRoles = map[string]string{
	"system": RoleSystem, "human": RoleUser, "user": RoleUser, "gpt": RoleAssistant, "assistant": RoleAssistant,
}

func (f fields) messages(key, roleKey, contentKey string, roles map[string]string) ([]Message, *RecordError) {
	raw, ok := f.m[key]
	if !ok {
		return nil, f.r.errAt(f.line, key, "missing (the record has %s)", keyList(f.m))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, f.r.errAt(f.line, key, "want an array of messages, got %s", jsonType(raw))
	}
	if len(items) == 0 {
		return nil, f.r.errAt(f.line, key, "empty conversation")
	}
	msgs := make([]Message, 0, len(items))
	assistant := false
	for i, item := range items {
		path := fmt.Sprintf("%s[%d]", key, i)
		var m map[string]json.RawMessage
		if len(bytes.TrimSpace(item)) == 0 || bytes.TrimSpace(item)[0] != '{' || json.Unmarshal(item, &m) != nil {
			return nil, f.r.errAt(f.line, path, "want a message object, got %s", jsonType(item))
		}
		from, e := f.str(m, roleKey, path+"."+roleKey, true)
		if e != nil {
			return nil, e
		}
		role, ok := roles[from]
		if !ok {
			known := make([]string, 0, len(roles))
			for k := range roles {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, f.r.errAt(f.line, path+"."+roleKey, "unsupported role %q (want one of %s)", from, strings.Join(known, ", "))
		}
		var content string
		if role == RoleSystem {
			content, e = f.str(m, contentKey, path+"."+contentKey, true)
		} else {
			content, e = f.text(m, contentKey, path+"."+contentKey)
		}
		if e != nil {
			return nil, e
		}
		if role == RoleAssistant {
			assistant = true
		}
		msgs = append(msgs, Message{Role: role, Content: content})
	}
	if !assistant {
		return nil, f.r.errAt(f.line, key, "no %s message: nothing to train on", RoleAssistant)
	}
	return msgs, nil
}

// ---- CSV ----

func (r *reader) readCSV() error {
	cr := csv.NewReader(bytes.NewReader(r.data))
	if strings.EqualFold(filepath.Ext(r.name), ".tsv") {
		cr.Comma = '\t'
	}
	header, err := cr.Read()
	if err != nil {
		if err == io.EOF {
			return fmt.Errorf("%s: empty CSV file", r.name)
		}
		return r.csvErr(err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	col := func(name string) (int, error) {
		for i, h := range header {
			if h == name {
				return i, nil
			}
		}
		return -1, r.errAt(1, "", "CSV header has no column %q (columns: %s)", name, strings.Join(header, ", "))
	}
	has := func(name string) bool { _, err := col(name); return err == nil }
	textCol, promptCol, complCol := r.opt.TextColumn, r.opt.PromptColumn, r.opt.CompletionColumn
	alpaca := false
	switch {
	case textCol != "":
	case promptCol != "" || complCol != "":
		if promptCol == "" || complCol == "" {
			return fmt.Errorf("%s: set both the prompt and the completion column", r.name)
		}
	case has("text"):
		textCol = "text"
	case has("prompt") && has("completion"):
		promptCol, complCol = "prompt", "completion"
	case has("instruction") && has("output"):
		alpaca = true
	default:
		return r.errAt(1, "", "cannot tell which CSV columns to use (columns: %s); set the text column or the prompt and completion columns",
			strings.Join(header, ", "))
	}
	idx := map[string]int{}
	need := []string{textCol}
	switch {
	case alpaca:
		need = []string{"instruction", "output"}
		for _, opt := range []string{"input", "system"} {
			if has(opt) {
				need = append(need, opt)
			}
		}
	case textCol == "":
		need = []string{promptCol, complCol}
	}
	for _, n := range need {
		i, err := col(n)
		if err != nil {
			return err
		}
		idx[n] = i
	}
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
				if e := r.bad(r.errAt(pe.StartLine, "", "want %d fields like the header, got %d", len(header), len(row))); e != nil {
					return e
				}
				continue
			}
			return r.csvErr(err)
		}
		line, _ := cr.FieldPos(0)
		get := func(name string) string { return row[idx[name]] }
		nonEmpty := func(name string) *RecordError {
			if strings.TrimSpace(get(name)) == "" {
				return r.errAt(line, name, "empty text")
			}
			return nil
		}
		var rec Record
		var e *RecordError
		switch {
		case alpaca:
			rec = Record{Kind: KindAlpaca, Instruction: get("instruction"), Output: get("output")}
			if _, ok := idx["input"]; ok {
				rec.Input = get("input")
			}
			if _, ok := idx["system"]; ok {
				rec.System = get("system")
			}
			if e = nonEmpty("instruction"); e == nil {
				e = nonEmpty("output")
			}
		case textCol != "":
			rec = Record{Kind: KindText, Text: get(textCol)}
			e = nonEmpty(textCol)
		default:
			rec = Record{Kind: KindPromptCompletion, Prompt: get(promptCol), Completion: get(complCol)}
			e = nonEmpty(complCol)
		}
		if e != nil {
			if err := r.bad(e); err != nil {
				return err
			}
			continue
		}
		rec.Line = line
		r.add(rec)
	}
}

func (r *reader) csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return r.errAt(pe.Line, "", "invalid CSV: %v", pe.Err)
	}
	return fmt.Errorf("%s: %w", r.name, err)
}
