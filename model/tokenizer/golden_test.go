package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

// TestGolden checks every golden case: ids, ids with special tokens, the
// decoded text, and that streaming decoding gives the same text.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name    string
		golden  string
		fixture string
	}{
		{"gpt2", "tokenizer_gpt2.json", "tokenizers/gpt2"},
		{"gpt2-tiny-random", "tokenizer_gpt2.json", "models/gpt2-tiny-random"},
		{"stories260K", "tokenizer_stories260K.json", "models/stories260K"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := loadFixture(t, tc.fixture)
			for _, c := range loadGolden(t, tc.golden) {
				if got := tok.Encode(c.Text); !slices.Equal(got, c.IDs) {
					t.Errorf("Encode(%q)\n got %v\nwant %v", c.Text, got, c.IDs)
				}
				if got := tok.EncodeWithSpecial(c.Text); !slices.Equal(got, c.IDsWithSpecial) {
					t.Errorf("EncodeWithSpecial(%q)\n got %v\nwant %v", c.Text, got, c.IDsWithSpecial)
				}
				if got := tok.Decode(c.IDs); got != c.Decoded {
					t.Errorf("Decode(%v) = %q, want %q", c.IDs, got, c.Decoded)
				}
				if got := streamDecode(tok, c.IDs); got != c.Decoded {
					t.Errorf("streaming decode of %v = %q, want %q", c.IDs, got, c.Decoded)
				}
			}
		})
	}
}

// streamDecode decodes ids one at a time with a streaming Decoder.
func streamDecode(tok *Tokenizer, ids []int) string {
	var sb strings.Builder
	d := tok.NewDecoder()
	for _, id := range ids {
		sb.WriteString(d.Next(id))
	}
	sb.WriteString(d.Flush())
	return sb.String()
}
