package data

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fynetune/fynetune/model/tokenizer"
)

// realTok adapts the model tokenizer to this package's Tokenizer: AddsBOS is
// whether EncodeWithSpecial puts BOS in front of Encode's ids. template,
// when set, replaces the model's chat template.
type realTok struct {
	*tokenizer.Tokenizer
	template string
}

func (r realTok) AddsBOS() bool {
	with, without := r.EncodeWithSpecial("x"), r.Encode("x")
	return r.BOS() >= 0 && len(with) == len(without)+1 && with[0] == r.BOS()
}

func (r realTok) ChatTemplate() string {
	if r.template != "" {
		return r.template
	}
	return r.Tokenizer.ChatTemplate()
}

func loadRealTok(t testing.TB, model string) realTok {
	t.Helper()
	tok, err := tokenizer.Load(filepath.Join(fixtures(t), "models", model))
	if err != nil {
		t.Fatal(err)
	}
	return realTok{Tokenizer: tok}
}

// scoredRuns returns the scored label ids of an example, one run per
// stretch of consecutive scored labels.
func scoredRuns(ex Example) [][]int {
	var runs [][]int
	prev := false
	for _, l := range ex.Labels {
		if l == IgnoreIndex {
			prev = false
			continue
		}
		if !prev {
			runs = append(runs, nil)
		}
		runs[len(runs)-1] = append(runs[len(runs)-1], int(l))
		prev = true
	}
	return runs
}

func TestRealTokenizerDatasets(t *testing.T) {
	dir := filepath.Join(fixtures(t), "datasets")
	for _, model := range []string{"stories260K", "gpt2-tiny-random"} {
		tok := loadRealTok(t, model)
		if want := model == "stories260K"; tok.AddsBOS() != want {
			t.Fatalf("%s: AddsBOS = %v, want %v", model, tok.AddsBOS(), want)
		}
		tests := []struct {
			file, val string
			records   int
			mode      Mode
		}{
			{"alpaca_en_demo.json", "", 999, ModeExamples},
			{"identity_alpaca.json", "", 91, ModeExamples},
			{"chat_messages.jsonl", "", 500, ModeExamples},
			{"wikisql_text_train.jsonl", "wikisql_text_valid.jsonl", 1000, ModeExamples},
			{"tinystories_sample.txt", "", 5, ModeLM},
			{"tinyshakespeare.txt", "", -1, ModeLM},
		}
		for _, tt := range tests {
			t.Run(model+"/"+tt.file, func(t *testing.T) {
				// some prompts are longer than 256 tokens: those records are
				// listed as bad (no response left after truncation)
				cfg := Config{Path: filepath.Join(dir, tt.file), SeqLen: 256, Truncate: true,
					ReadOptions: ReadOptions{SkipBad: true}}
				if tt.val != "" {
					cfg.ValPath = filepath.Join(dir, tt.val)
				}
				ds, err := Load(cfg, tok)
				if err != nil {
					t.Fatal(err)
				}
				st := ds.Stats
				if tt.records >= 0 && st.TrainRecords+len(st.Bad) != tt.records {
					t.Errorf("%d records and %d bad, want %d in all", st.TrainRecords, len(st.Bad), tt.records)
				}
				for _, b := range st.Bad {
					if !strings.Contains(b.Msg, "no response tokens within seq-len 256") {
						t.Errorf("bad record: %v", &b)
					}
				}
				if len(st.Bad) > st.Records/20 {
					t.Errorf("%d of %d records bad", len(st.Bad), st.Records)
				}
				if st.Mode != tt.mode || st.SplitTokenized != 0 {
					t.Errorf("mode %s, %d split-tokenized", st.Mode, st.SplitTokenized)
				}
				t.Logf("%d records, %d bad, %d truncated, %d rows, tokens mean %.0f max %d",
					st.Records, len(st.Bad), st.Truncated, len(ds.Train)+len(ds.Val), st.MeanTokens, st.MaxTokens)
				checkExamples(t, "train", ds.Train, 256)
				checkExamples(t, "val", ds.Val, 256)
				if tt.mode == ModeLM {
					// windows of 257 tokens cover the whole stream
					if n := len(ds.Train); int64(n) < st.Tokens/257 || int64(n) > st.Tokens/257+1 {
						t.Errorf("%d windows for %d tokens", n, st.Tokens)
					}
				}
			})
		}
	}
}

// TestRealTokenizerMasking: with real tokenizers the scored labels decode to
// exactly the responses (and their EOS).
func TestRealTokenizerMasking(t *testing.T) {
	dir := filepath.Join(fixtures(t), "datasets")
	var alpacaRaw []struct{ Instruction, Input, Output string }
	b, err := os.ReadFile(filepath.Join(dir, "identity_alpaca.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &alpacaRaw); err != nil {
		t.Fatal(err)
	}
	for _, model := range []string{"stories260K", "gpt2-tiny-random"} {
		tok := loadRealTok(t, model)
		eos := tok.TokenString(tok.EOS())
		ds, err := Load(Config{Path: filepath.Join(dir, "identity_alpaca.json"), SeqLen: 1024}, tok)
		if err != nil {
			t.Fatal(err)
		}
		for i, ex := range ds.Train {
			runs := scoredRuns(ex)
			if len(runs) != 1 {
				t.Fatalf("%s record %d: %d scored runs", model, i, len(runs))
			}
			got := tok.Decode(runs[0])
			want := alpacaRaw[i].Output + eos
			if got != want {
				t.Fatalf("%s record %d: scored text %q, want %q", model, i, got, want)
			}
			// the ids are those of the whole text tokenized at once
			full := tok.Encode(strings.TrimSuffix(strings.TrimPrefix(ex.Text, tok.TokenString(tok.BOS())), eos))
			ids := make([]int, 0, len(ex.IDs))
			for _, id := range ex.IDs {
				ids = append(ids, int(id))
			}
			ids = append(ids, int(ex.Labels[len(ex.Labels)-1]))
			if tok.AddsBOS() {
				full = append([]int{tok.BOS()}, full...)
			}
			full = append(full, tok.EOS())
			if !slices.Equal(ids, full) {
				t.Fatalf("%s record %d: ids differ from the text tokenized whole", model, i)
			}
		}
	}
}

// TestRealTokenizerJinja runs a real chat template (Qwen2's) over the chat
// fixture with the GPT-2 tokenizer, where <|im_end|> is plain text: each
// response is scored through <|im_end|> and the appended EOS.
func TestRealTokenizerJinja(t *testing.T) {
	dir := filepath.Join(fixtures(t), "datasets")
	src, err := os.ReadFile("testdata/templates/qwen2.jinja")
	if err != nil {
		t.Fatal(err)
	}
	tok := loadRealTok(t, "gpt2-tiny-random")
	tok.template = string(src)
	path := filepath.Join(dir, "chat_messages.jsonl")
	ds, err := Load(Config{Path: path, SeqLen: 2048}, tok)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Stats.Template != TemplateModel || ds.Stats.TrainRecords != 500 {
		t.Fatalf("template %s, %d records", ds.Stats.Template, ds.Stats.TrainRecords)
	}
	res, err := ReadFile(path, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, ex := range ds.Train[:100] {
		runs := scoredRuns(ex)
		want := res.Records[i].Messages[1].Content + "<|im_end|><|endoftext|>"
		if len(runs) != 1 || tok.Decode(runs[0]) != want {
			t.Fatalf("record %d: scored %d runs, first %q, want %q", i, len(runs), tok.Decode(runs[0]), want)
		}
		if !strings.HasPrefix(ex.Text, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n") {
			t.Fatalf("record %d: text %q", i, ex.Text)
		}
	}
}
