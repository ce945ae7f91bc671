package tokenizer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// randomText builds a random valid UTF-8 string that mixes ASCII words,
// whitespace of all kinds, punctuation, digits, accents, CJK, emoji and
// arbitrary code points.
func randomText(rng *rand.Rand) string {
	pieces := []string{
		" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", "\u0085",
		"'s", "'LL", "'re", "don't", "hello", "World", "x", "Q",
		"0", "42", "3.14", "½", "٣", ".", ",", "!?", "(", "\"", "#", "_", "-", "\\",
		"é", "ß", "naïve", "e\u0301", "Ωμέγα", "привет", "日本語", "テキスト", "한국어",
		"🙂", "👍🏽", "👨‍👩‍👧", "✓", "\x00", "\x7f", "\ufffd", "Ġ", "<|endoftext|>", "<|endo",
	}
	var sb strings.Builder
	for range rng.IntN(30) {
		if rng.IntN(4) == 0 {
			// Any code point except surrogates.
			r := rune(rng.IntN(0x110000))
			if !utf8.ValidRune(r) {
				r = 'z'
			}
			sb.WriteRune(r)
		} else {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
	}
	return sb.String()
}

// roundTripWant returns what Decode(Encode(s)) must give, or false when the
// tokenizer cannot give s back: a SentencePiece tokenizer turns "▁" into a
// space, and writes a space after every added token found in the text (its
// normalizer prepends "▁" to each piece between added tokens, as in HF).
func roundTripWant(tok *Tokenizer, s string) (string, bool) {
	if tok.Kind() == KindByteLevel {
		return s, true
	}
	for _, a := range tok.AddedTokens() {
		if strings.Contains(s, a.Content) {
			return "", false
		}
	}
	return strings.ReplaceAll(s, "▁", " "), true
}

// checkText checks the properties every input must have: ids in range,
// EncodeWithSpecial = prefix + Encode + suffix, streaming decoding equal to
// Decode, and the round trip for valid UTF-8.
func checkText(t *testing.T, name string, tok *Tokenizer, s string) {
	t.Helper()
	ids := tok.Encode(s)
	for _, id := range ids {
		if id < 0 || id >= tok.VocabSize() {
			t.Fatalf("%s: Encode(%q) gave id %d outside [0, %d)", name, s, id, tok.VocabSize())
		}
	}
	withSpecial := tok.EncodeWithSpecial(s)
	if !slices.Equal(withSpecial[len(tok.prefixIDs):len(withSpecial)-len(tok.suffixIDs)], ids) {
		t.Fatalf("%s: EncodeWithSpecial(%q) = %v, Encode = %v", name, s, withSpecial, ids)
	}
	dec := tok.Decode(ids)
	if got := streamDecode(tok, ids); got != dec {
		t.Fatalf("%s: streaming decode of Encode(%q) = %q, Decode = %q", name, s, got, dec)
	}
	if !utf8.ValidString(s) {
		return
	}
	if want, ok := roundTripWant(tok, s); ok && dec != want {
		t.Fatalf("%s: Decode(Encode(%q)) = %q, want %q (ids %v)", name, s, dec, want, ids)
	}
}

// TestRoundTrip checks the properties on random strings for both
// tokenizers.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	toks := []struct {
		name string
		tok  *Tokenizer
	}{{"gpt2", gpt2(t)}, {"stories260K", stories260K(t)}}
	for range 3000 {
		s := randomText(rng)
		for _, tk := range toks {
			checkText(t, tk.name, tk.tok, s)
		}
	}
}

// FuzzEncode checks, for any input, that encoding does not panic, gives ids
// in range, and that decoding gives the text back (see roundTripWant). The
// seeds are the golden texts; as an ordinary test only they run.
func FuzzEncode(f *testing.F) {
	for _, name := range []string{"tokenizer_gpt2.json", "tokenizer_stories260K.json"} {
		for _, c := range loadGolden(f, name) {
			f.Add(c.Text)
		}
	}
	g, s := gpt2(f), stories260K(f)
	f.Fuzz(func(t *testing.T, text string) {
		checkText(t, "gpt2", g, text)
		checkText(t, "stories260K", s, text)
	})
}

// TestConcurrentEncode encodes from several goroutines at once (the word
// cache is shared) and checks every result against a serial encoding.
func TestConcurrentEncode(t *testing.T) {
	tok := gpt2(t)
	rng := rand.New(rand.NewPCG(3, 5))
	texts := make([]string, 200)
	want := make([][]int, len(texts))
	for i := range texts {
		texts[i] = randomText(rng)
	}
	serial := variantOf(t, tok)
	for i, s := range texts {
		want[i] = serial.Encode(s)
	}
	errs := make(chan string, 4)
	for w := range 4 {
		go func() {
			msg := ""
			for k := range texts {
				i := (k + w*50) % len(texts)
				if got := tok.Encode(texts[i]); !slices.Equal(got, want[i]) {
					msg = fmt.Sprintf("Encode(%q) = %v, want %v", texts[i], got, want[i])
					break
				}
			}
			errs <- msg
		}()
	}
	for range 4 {
		if msg := <-errs; msg != "" {
			t.Error(msg)
		}
	}
}

// variantOf loads a second, independent copy of a fixture tokenizer.
func variantOf(t *testing.T, tok *Tokenizer) *Tokenizer {
	t.Helper()
	other, err := Load(fixture(t, "tokenizers/gpt2"))
	if err != nil {
		t.Fatal(err)
	}
	if other == tok {
		t.Fatal("same tokenizer")
	}
	return other
}
