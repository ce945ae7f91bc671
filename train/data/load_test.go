package data

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// checkExamples checks the invariants every loaded row must hold.
func checkExamples(t *testing.T, name string, exs []Example, seqLen int) {
	t.Helper()
	for i, ex := range exs {
		if len(ex.IDs) == 0 || len(ex.IDs) > seqLen || len(ex.Labels) != len(ex.IDs) {
			t.Fatalf("%s row %d (line %d): %d ids, %d labels, seq-len %d", name, i, ex.Line, len(ex.IDs), len(ex.Labels), seqLen)
		}
		if ex.Scored() == 0 {
			t.Fatalf("%s row %d (line %d): no scored label", name, i, ex.Line)
		}
		// labels are the inputs shifted by one where both are known
		for j := 0; j+1 < len(ex.IDs); j++ {
			if ex.Labels[j] != IgnoreIndex && ex.Labels[j] != ex.IDs[j+1] {
				t.Fatalf("%s row %d position %d: label %d, next input %d", name, i, j, ex.Labels[j], ex.IDs[j+1])
			}
		}
	}
}

func TestLoadFixtures(t *testing.T) {
	dir := filepath.Join(fixtures(t), "datasets")
	tests := []struct {
		file, val string
		format    Format
		mode      Mode
		template  string
		records   int // training file records (documents for text)
		valRecs   int
	}{
		{"alpaca_en_demo.json", "", FormatAlpaca, ModeExamples, TemplateAlpaca, 999, 0},
		{"identity_alpaca.json", "", FormatAlpaca, ModeExamples, TemplateAlpaca, 91, 0},
		{"chat_messages.jsonl", "", FormatChat, ModeExamples, TemplateChatML, 500, 0},
		{"wikisql_text_train.jsonl", "wikisql_text_valid.jsonl", FormatJSONLText, ModeExamples, TemplateNone, 1000, 100},
		{"tinystories_sample.txt", "", FormatText, ModeLM, TemplateNone, 5, 0}, // five stories between <|endoftext|> lines
	}
	tok := newFakeTok()
	tok.addsBOS = true
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			// the fake tokenizer is byte-level: rows long enough for the longest prompts
			cfg := Config{Path: filepath.Join(dir, tt.file), SeqLen: 4096, Truncate: true}
			if tt.val != "" {
				cfg.ValPath = filepath.Join(dir, tt.val)
			}
			ds, err := Load(cfg, tok)
			if err != nil {
				t.Fatal(err)
			}
			st := ds.Stats
			if st.Format != tt.format || st.Mode != tt.mode || st.Template != tt.template {
				t.Errorf("format %s mode %s template %s, want %s %s %s", st.Format, st.Mode, st.Template, tt.format, tt.mode, tt.template)
			}
			if st.TrainRecords != tt.records || st.ValRecords != tt.valRecs || st.Records != tt.records+tt.valRecs {
				t.Errorf("records %d (train %d, val %d), want %d and %d", st.Records, st.TrainRecords, st.ValRecords, tt.records, tt.valRecs)
			}
			if len(st.Bad) != 0 || len(st.Preview) != 3 || st.MaxTokens == 0 || st.MeanTokens <= 0 {
				t.Errorf("stats: %d bad, %d previews, max %d, mean %v", len(st.Bad), len(st.Preview), st.MaxTokens, st.MeanTokens)
			}
			checkExamples(t, "train", ds.Train, 4096)
			checkExamples(t, "val", ds.Val, 4096)
			if tt.mode == ModeExamples && len(ds.Train) != tt.records {
				t.Errorf("%d rows, want one per record", len(ds.Train))
			}
		})
	}
}

// TestLoadAlpacaMasking: in the real alpaca file only each output and the
// EOS after it are scored.
func TestLoadAlpacaMasking(t *testing.T) {
	path := filepath.Join(fixtures(t), "datasets", "alpaca_en_demo.json")
	var raw []struct{ Instruction, Input, Output string }
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	tok := newFakeTok()
	ds, err := Load(Config{Path: path, SeqLen: 1 << 16, PreviewCount: 5}, tok)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Stats.Truncated != 0 {
		t.Fatalf("%d truncated", ds.Stats.Truncated)
	}
	for i := range 50 {
		if got, want := scoredText(tok, ds.Train[i]), raw[i].Output+"</s>"; got != want {
			t.Fatalf("record %d: scored %q, want the output %q", i, got, want)
		}
		if !strings.Contains(ds.Train[i].Text, "### Instruction:\n"+raw[i].Instruction+"\n\n") {
			t.Fatalf("record %d: text %q lacks the instruction", i, ds.Train[i].Text)
		}
	}
	p := ds.Stats.Preview[0]
	if len(p.Segments) != 2 || p.Segments[0].Scored || !p.Segments[1].Scored || p.Segments[1].Text != raw[0].Output+"</s>" {
		t.Errorf("preview segments %+v", p.Segments)
	}
	if p.Line != 2 || ds.Train[1].Line != 7 {
		t.Errorf("lines %d, %d, want 2 and 7", p.Line, ds.Train[1].Line)
	}
}

func jsonl(records ...string) string { return strings.Join(records, "\n") + "\n" }

func pcRecords(n int) string {
	var recs []string
	for i := range n {
		recs = append(recs, fmt.Sprintf(`{"prompt": "q%d:", "completion": "answer %d"}`, i, i))
	}
	return jsonl(recs...)
}

func TestLoadSplit(t *testing.T) {
	path := writeFile(t, "pc.jsonl", pcRecords(20))
	tok := newFakeTok()
	load := func(seed uint64) (train, val []int) {
		ds, err := Load(Config{Path: path, SeqLen: 64, ValFraction: 0.25, Seed: seed}, tok)
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range ds.Train {
			train = append(train, ex.Line)
		}
		for _, ex := range ds.Val {
			val = append(val, ex.Line)
		}
		return train, val
	}
	train, val := load(7)
	if len(val) != 5 || len(train) != 15 {
		t.Fatalf("split %d/%d, want 15/5", len(train), len(val))
	}
	all := append(slices.Clone(train), val...)
	slices.Sort(all)
	for i, l := range all {
		if l != i+1 {
			t.Fatalf("train+val lines %v, want each of 1..20 once", all)
		}
	}
	train2, val2 := load(7)
	if !slices.Equal(train, train2) || !slices.Equal(val, val2) {
		t.Error("same seed, different split")
	}
	_, val3 := load(8)
	if slices.Equal(val, val3) {
		t.Error("seeds 7 and 8 hold out the same records")
	}
	if _, err := Load(Config{Path: path, SeqLen: 64, ValFraction: 0.99}, tok); err == nil {
		t.Error("fraction leaving nothing: no error")
	}
}

func TestLoadPacking(t *testing.T) {
	path := writeFile(t, "pc.jsonl", pcRecords(30))
	tok := newFakeTok()
	plain, err := Load(Config{Path: path, SeqLen: 64}, tok)
	if err != nil {
		t.Fatal(err)
	}
	packed, err := Load(Config{Path: path, SeqLen: 64, Pack: true, Seed: 3}, tok)
	if err != nil {
		t.Fatal(err)
	}
	checkExamples(t, "packed", packed.Train, 64)
	if len(packed.Train) >= len(plain.Train)/3 {
		t.Errorf("%d packed rows for %d examples", len(packed.Train), len(plain.Train))
	}
	if packed.Stats.ScoredTokens != plain.Stats.ScoredTokens {
		t.Errorf("packing changed the scored tokens: %d, want %d", packed.Stats.ScoredTokens, plain.Stats.ScoredTokens)
	}
	records := 0
	for _, ex := range packed.Train {
		records += ex.Records
		// each packed example keeps its own EOS; the next starts right after it
		if strings.Count(ex.Text, "</s>") != ex.Records {
			t.Errorf("row %q holds %d records", ex.Text, ex.Records)
		}
	}
	if records != 30 {
		t.Errorf("rows hold %d records, want 30", records)
	}
	// examples whose first token would be scored (text) are not scored across rows
	text := writeFile(t, "t.jsonl", jsonl(`{"text": "aaaa"}`, `{"text": "bbbb"}`))
	ds, err := Load(Config{Path: text, SeqLen: 16, Pack: true}, tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Train) != 1 {
		t.Fatalf("%d rows, want 1", len(ds.Train))
	}
	if got := scoredText(tok, ds.Train[0]); got != "aaa</s>bbb</s>" {
		t.Errorf("packed scored %q, want %q (the EOS->next-record transition is not scored)", got, "aaa</s>bbb</s>")
	}
}

func TestLoadLM(t *testing.T) {
	path := writeFile(t, "c.txt", "abc\n\ndefgh\n\nij\n")
	tok := newFakeTok()
	tok.addsBOS = true
	ds, err := Load(Config{Path: path, SeqLen: 4}, tok)
	if err != nil {
		t.Fatal(err)
	}
	// stream: <s>abc</s><s>defgh</s><s>ij</s> = 16 tokens, windows of 5
	var stream []int32
	for _, doc := range []string{"abc", "defgh", "ij"} {
		stream = append(stream, 0)
		for _, c := range []byte(doc) {
			stream = append(stream, int32(tok.byteID(c)))
		}
		stream = append(stream, 1)
	}
	if len(ds.Train) != 3 { // 16 tokens: windows [0,5) [5,10) [10,15), [15,16) too short
		t.Fatalf("%d windows, want 3", len(ds.Train))
	}
	for k, ex := range ds.Train {
		w := stream[5*k : 5*k+5]
		if !slices.Equal(ex.IDs, w[:4]) {
			t.Errorf("window %d ids %v, want %v", k, ex.IDs, w[:4])
		}
		for j, l := range ex.Labels {
			want := w[j+1]
			if want == 0 { // BOS is not scored
				want = IgnoreIndex
			}
			if l != want {
				t.Errorf("window %d label %d = %d, want %d", k, j, l, want)
			}
		}
	}
	if lines := []int{ds.Train[0].Line, ds.Train[1].Line, ds.Train[2].Line}; !slices.Equal(lines, []int{1, 3, 3}) {
		t.Errorf("window lines %v, want [1 3 3]", lines)
	}
	if ds.Stats.Records != 3 || ds.Stats.Tokens != 16 || ds.Stats.MaxTokens != 7 {
		t.Errorf("stats %+v", ds.Stats)
	}
	// a validation fraction holds out the last windows
	ds, err = Load(Config{Path: path, SeqLen: 4, ValFraction: 0.3}, tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Train) != 2 || len(ds.Val) != 1 || !slices.Equal(ds.Val[0].IDs, stream[10:14]) {
		t.Errorf("split %d/%d", len(ds.Train), len(ds.Val))
	}
}

func TestLoadBadRecords(t *testing.T) {
	data := jsonl(
		`{"prompt": "p", "completion": "fine"}`,
		`{"prompt": "p", "completion": 3}`,
		`{"prompt": "p", "completion": "`+strings.Repeat("long ", 10)+`"}`,
		`{"prompt": "p", "completion": "ok"}`,
	)
	path := writeFile(t, "b.jsonl", data)
	tok := newFakeTok()
	_, err := Load(Config{Path: path, SeqLen: 16}, tok)
	var re *RecordError
	if !errors.As(err, &re) || re.Line != 2 {
		t.Fatalf("error = %v, want one at line 2", err)
	}
	ds, err := Load(Config{Path: path, SeqLen: 16, ReadOptions: ReadOptions{SkipBad: true}}, tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.Stats.BadLines(path); !slices.Equal(got, []int{2, 3}) {
		t.Errorf("bad lines %v, want [2 3]", got)
	}
	if !strings.Contains(ds.Stats.Bad[1].Error(), "b.jsonl:3: 52 tokens, longer than a row of seq-len 16") {
		t.Errorf("too long: %v", ds.Stats.Bad[1].Error())
	}
	if ds.Stats.Records != 2 || len(ds.Train) != 2 {
		t.Errorf("%d records, %d rows, want 2", ds.Stats.Records, len(ds.Train))
	}
	// with truncation the long one is kept and counted
	ds, err = Load(Config{Path: path, SeqLen: 16, Truncate: true, ReadOptions: ReadOptions{SkipBad: true}}, tok)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Stats.Truncated != 1 || len(ds.Train) != 3 || len(ds.Stats.Bad) != 1 {
		t.Errorf("truncated %d, rows %d, bad %d", ds.Stats.Truncated, len(ds.Train), len(ds.Stats.Bad))
	}
	p := ds.Stats.Preview[1]
	if p.Line != 3 || !p.Truncated || !p.Tokens[17].Dropped || p.Tokens[16].Dropped {
		t.Errorf("preview of the truncated record: truncated %v", p.Truncated)
	}
	// a template error is a bad record with its line
	chat := writeFile(t, "c.jsonl", jsonl(
		`{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}`,
		`{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}]}`,
	))
	_, err = Load(Config{Path: chat, SeqLen: 64, Template: TemplateLlama2}, tok)
	if !errors.As(err, &re) || re.Line != 2 || !strings.Contains(re.Msg, "alternate") {
		t.Errorf("template error = %v, want line 2", err)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	path := writeFile(t, "pc.jsonl", pcRecords(3))
	tok := newFakeTok()
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Path: path}, "seq-len must be > 0"},
		{Config{Path: path, SeqLen: 8, ValFraction: 1}, "validation fraction"},
		{Config{Path: path, SeqLen: 8, ValFraction: 0.5, ValPath: path}, "not both"},
		{Config{Path: path, SeqLen: 8, Mode: "stream"}, "unknown mode"},
		{Config{Path: path, SeqLen: 8, Template: "model"}, "no chat_template"},
		{Config{Path: path + ".missing", SeqLen: 8}, "no such file"},
	}
	for _, tt := range tests {
		if _, err := Load(tt.cfg, tok); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func TestPreviewClipped(t *testing.T) {
	big := strings.Repeat("é", 40<<10) // 80 KiB of two-byte characters
	path := writeFile(t, "big.txt", big)
	tok := newFakeTok()
	ds, err := Load(Config{Path: path, SeqLen: 64, ReadOptions: ReadOptions{TextSplit: SplitNone}}, tok)
	if err != nil {
		t.Fatal(err)
	}
	p := ds.Stats.Preview[0]
	text := ""
	for _, s := range p.Segments {
		text += s.Text
	}
	if !p.Clipped || len(p.Tokens) != PreviewTokenLimit || p.TotalTokens != len(big)+1 {
		t.Errorf("clipped %v, %d tokens of %d", p.Clipped, len(p.Tokens), p.TotalTokens)
	}
	if len(text) > PreviewTextLimit || !strings.HasPrefix(big, text) || len(text) < PreviewTextLimit-1 {
		t.Errorf("preview text of %d bytes", len(text))
	}
	if want := (len(big) + 1) / 65; len(ds.Train) != want+1 {
		t.Errorf("%d windows, want %d", len(ds.Train), want+1)
	}
}
