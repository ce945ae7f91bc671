package main

import (
	"strings"
	"testing"

	"github.com/fynetune/fynetune/model/tokenizer"
)

func TestTokenizerRoundTrip(t *testing.T) {
	text := Corpus(7, 300)
	merges := LearnBPE(text, 120)
	if len(merges) != 120 {
		t.Fatalf("%d merges learned, want 120", len(merges))
	}
	js, vocab := TokenizerJSON(merges)
	tok, err := tokenizer.FromJSON(js, []byte(`{"bos_token":"<|endoftext|>","eos_token":"<|endoftext|>","add_bos_token":false}`))
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != vocab || vocab != 256+120+1 {
		t.Errorf("vocabulary %d (tokenizer says %d), want %d", vocab, tok.VocabSize(), 256+120+1)
	}
	if id, ok := tok.TokenID(EndOfText); !ok || id != vocab-1 || tok.EOS() != vocab-1 {
		t.Errorf("<|endoftext|> is %d (%v), EOS %d; want %d", id, ok, tok.EOS(), vocab-1)
	}
	for _, s := range []string{strings.Split(text, "\n\n")[3], "Q: What color is the sky?\nA: Arr, matey! Yo ho ho!", "naïve café ✓ 123"} {
		ids := tok.Encode(s)
		if got := tok.Decode(ids); got != s {
			t.Errorf("round trip of %q gave %q", s, got)
		}
	}
	// the merges compress the corpus: far fewer tokens than bytes
	sample := text[:5000]
	if n := len(tok.Encode(sample)); n > len(sample)*6/10 {
		t.Errorf("%d tokens for %d bytes: the merges do not compress", n, len(sample))
	}
}

func TestLearnBPEIsDeterministic(t *testing.T) {
	text := Corpus(3, 200)
	a, b := LearnBPE(text, 50), LearnBPE(text, 50)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("merge %d: %v then %v", i, a[i], b[i])
		}
	}
}

func TestCorpusAndFineTuneData(t *testing.T) {
	if Corpus(1, 50) != Corpus(1, 50) || Corpus(1, 50) == Corpus(2, 50) {
		t.Error("the corpus is not a function of the seed")
	}
	recs := FineTune(1)
	if len(recs) != 4*(len(facts)-len(heldOut)) {
		t.Errorf("%d fine-tuning records, want %d", len(recs), 4*(len(facts)-len(heldOut)))
	}
	for _, r := range recs {
		q := strings.TrimSuffix(strings.TrimPrefix(r.q, "Q: "), "\nA:")
		if heldOut[q] {
			t.Errorf("held-out question %q is in the fine-tuning data", q)
		}
		if !strings.Contains(r.a, "matey") || !strings.HasPrefix(r.a, " ") {
			t.Errorf("completion %q is not in the pirate style", r.a)
		}
	}
	if len(DemoPrompts()) != len(heldOut) {
		t.Errorf("%d sample prompts, want %d", len(DemoPrompts()), len(heldOut))
	}
}
