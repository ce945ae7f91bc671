package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTok is a byte-level tokenizer for tests: ids 0..len(specials)-1 are the
// special tokens (matched in text, longest first), then one id per byte, then
// one id per merge. Merges are applied in order over each text run, as BPE
// does by rank; a dummy prefix puts a space before each run, as SentencePiece
// tokenizers do. Special tokens must start with "<".
type fakeTok struct {
	specials    []string
	bos, eos    int
	addsBOS     bool
	template    string
	merges      [][2]string
	dummyPrefix bool
}

func newFakeTok() *fakeTok {
	return &fakeTok{
		specials: []string{"<s>", "</s>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|eot_id|>",
			"<|start_header_id|>", "<|end_header_id|>"},
		bos: 0, eos: 1,
	}
}

func (t *fakeTok) byteID(b byte) int { return len(t.specials) + int(b) }

func (t *fakeTok) mergeID(i int) int { return len(t.specials) + 256 + i }

func (t *fakeTok) Encode(text string) []int {
	var ids []int
	flush := func(run string) {
		if run == "" {
			return
		}
		if t.dummyPrefix {
			run = " " + run
		}
		toks := make([]int, len(run))
		for i := range len(run) {
			toks[i] = t.byteID(run[i])
		}
		for mi, m := range t.merges {
			a, b := t.strID(m[0]), t.strID(m[1])
			out := toks[:0]
			for i := 0; i < len(toks); i++ {
				if i+1 < len(toks) && toks[i] == a && toks[i+1] == b {
					out = append(out, t.mergeID(mi))
					i++
					continue
				}
				out = append(out, toks[i])
			}
			toks = out
		}
		ids = append(ids, toks...)
	}
	start := 0
	for i := 0; i < len(text); {
		best := -1
		if text[i] == '<' {
			for id, s := range t.specials {
				if strings.HasPrefix(text[i:], s) && (best < 0 || len(s) > len(t.specials[best])) {
					best = id
				}
			}
		}
		if best < 0 {
			i++
			continue
		}
		flush(text[start:i])
		ids = append(ids, best)
		i += len(t.specials[best])
		start = i
	}
	flush(text[start:])
	return ids
}

// strID returns the id of a byte or merged token string.
func (t *fakeTok) strID(s string) int {
	if len(s) == 1 {
		return t.byteID(s[0])
	}
	for i, m := range t.merges {
		if m[0]+m[1] == s {
			return t.mergeID(i)
		}
	}
	return -1
}

func (t *fakeTok) BOS() int             { return t.bos }
func (t *fakeTok) EOS() int             { return t.eos }
func (t *fakeTok) ChatTemplate() string { return t.template }
func (t *fakeTok) AddsBOS() bool        { return t.addsBOS }

func (t *fakeTok) TokenString(id int) string {
	switch {
	case id < 0:
		return ""
	case id < len(t.specials):
		return t.specials[id]
	case id < len(t.specials)+256:
		return string([]byte{byte(id - len(t.specials))})
	case id-len(t.specials)-256 < len(t.merges):
		m := t.merges[id-len(t.specials)-256]
		return m[0] + m[1]
	}
	return ""
}

// decode joins token strings.
func decode(tok Tokenizer, ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(tok.TokenString(id))
	}
	return b.String()
}

// writeFile writes a file in a test's temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fixtures returns the shared fixtures directory, skipping the test when it
// is absent (failing under CI=true).
func fixtures(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("FYNETUNE_FIXTURES")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dir = filepath.Join(d, "..", "shared", "fixtures")
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "datasets")); err == nil {
			return dir
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("fixtures not found (set FYNETUNE_FIXTURES or put them in ../shared/fixtures)")
	}
	t.Skip("fixtures not found: set FYNETUNE_FIXTURES or put them in ../shared/fixtures beside the repository")
	return ""
}

func TestFakeTokenizer(t *testing.T) {
	tok := newFakeTok()
	tok.merges = [][2]string{{"a", "b"}, {"ab", "c"}}
	ids := tok.Encode("xabc<|im_end|>ab")
	if got, want := decode(tok, ids), "xabc<|im_end|>ab"; got != want {
		t.Fatalf("decode = %q, want %q", got, want)
	}
	if len(ids) != 4 { // x, abc, <|im_end|>, ab
		t.Fatalf("ids = %v, want 4 tokens", ids)
	}
}
