package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tinyJSON is a small byte-level tokenizer: the letters a-e and space, a
// few merges, three added tokens and a template adding <s> ... </s>.
const tinyJSON = `{
  "version": "1.0",
  "added_tokens": [
    {"id": 0, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 1, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 12, "content": "<tool>", "single_word": false, "lstrip": true, "rstrip": true, "normalized": false, "special": false},
    {"id": 13, "content": "bee", "single_word": true, "lstrip": false, "rstrip": false, "normalized": false, "special": false}
  ],
  "normalizer": null,
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
  "post_processor": {
    "type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
    "pair": [],
    "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}, "</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}
  },
  "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
  "model": {
    "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null,
    "fuse_unk": false, "byte_fallback": false,
    "vocab": {"<s>": 0, "</s>": 1, "a": 2, "b": 3, "c": 4, "d": 5, "e": 6, "Ġ": 7, "ab": 8, "Ġa": 9, "Ġab": 10, "cd": 11},
    "merges": ["a b", "Ġ a", "Ġa b", "c d"]
  }
}`

func mustTiny(t *testing.T, config string) *Tokenizer {
	t.Helper()
	var cfg []byte
	if config != "" {
		cfg = []byte(config)
	}
	tok, err := FromJSON([]byte(tinyJSON), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTinyEncode(t *testing.T) {
	tok := mustTiny(t, "")
	for _, tc := range []struct {
		text string
		want []int
	}{
		{"ab", []int{8}},
		{"ab ab", []int{8, 7, 8}}, // "a b" outranks "Ġ a"
		{"b a", []int{3, 9}},
		{"abcd", []int{8, 11}},
		{"a<s>b", []int{2, 0, 3}},
		{"a </s>", []int{2, 7, 1}},
		// lstrip/rstrip: the whitespace around <tool> is swallowed.
		{"ab  <tool>  ab", []int{8, 12, 8}},
		// single_word: "bee" only matches as a word of its own.
		{"bee", []int{13}},
		{"a bee", []int{2, 7, 13}},
		{"beed", []int{3, 6, 6, 5}},
		{"abee", []int{8, 6, 6}},
		// Characters missing from the vocab are dropped (no unk token).
		{"xa", []int{2}},
		{"", nil},
	} {
		if got := tok.Encode(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
	if got, want := tok.EncodeWithSpecial("ab"), []int{0, 8, 1}; !slices.Equal(got, want) {
		t.Errorf("EncodeWithSpecial = %v, want %v (template <s> A </s>)", got, want)
	}
	if got, want := tok.Decode([]int{0, 8, 10, 12, 99, 1}), "<s>ab ab<tool></s>"; got != want {
		t.Errorf("Decode = %q, want %q (unknown id 99 skipped)", got, want)
	}
}

func TestTinyAccessors(t *testing.T) {
	tok := mustTiny(t, "")
	if tok.Kind() != KindByteLevel {
		t.Errorf("Kind = %q", tok.Kind())
	}
	if tok.VocabSize() != 14 {
		t.Errorf("VocabSize = %d, want 14", tok.VocabSize())
	}
	// Without tokenizer_config.json, BOS and EOS come from the template.
	if tok.BOS() != 0 || tok.EOS() != 1 || tok.PAD() != -1 || tok.UNK() != -1 {
		t.Errorf("BOS/EOS/PAD/UNK = %d/%d/%d/%d, want 0/1/-1/-1", tok.BOS(), tok.EOS(), tok.PAD(), tok.UNK())
	}
	if !tok.IsSpecial(0) || tok.IsSpecial(12) || tok.IsSpecial(8) {
		t.Error("IsSpecial: want <s> special, <tool> and ab not")
	}
	if id, ok := tok.TokenID("<tool>"); !ok || id != 12 {
		t.Errorf("TokenID(<tool>) = %d, %v", id, ok)
	}
	if _, ok := tok.TokenID("zz"); ok {
		t.Error("TokenID(zz) found")
	}
	if s := tok.TokenString(10); s != "Ġab" {
		t.Errorf("TokenString(10) = %q", s)
	}
	if s := tok.TokenString(1000); s != "" {
		t.Errorf("TokenString(1000) = %q, want empty", s)
	}
	wantMerges := [][2]string{{"a", "b"}, {"Ġ", "a"}, {"Ġa", "b"}, {"c", "d"}}
	if got := tok.Merges(); !slices.Equal(got, wantMerges) {
		t.Errorf("Merges = %v", got)
	}
	v := tok.Vocab()
	if len(v) != 14 || v[10] != "Ġab" || v[12] != "<tool>" || v[13] != "bee" {
		t.Errorf("Vocab = %q", v)
	}
	added := tok.AddedTokens()
	if len(added) != 4 || added[2] != (AddedToken{ID: 12, Content: "<tool>", LStrip: true, RStrip: true}) {
		t.Errorf("AddedTokens = %+v", added)
	}
	added[0].Content = "changed"
	if tok.AddedTokens()[0].Content != "<s>" {
		t.Error("AddedTokens returned the tokenizer's own slice")
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name           string
		config         string
		prefix, suffix []int
		bos, eos, pad  int
		template       string
	}{
		{"no config", "", []int{0}, []int{1}, 0, 1, -1, ""},
		{"add_bos only", `{"add_bos_token": true, "add_eos_token": false, "bos_token": "<s>", "eos_token": "</s>"}`,
			[]int{0}, nil, 0, 1, -1, ""},
		{"add neither", `{"add_bos_token": false, "add_eos_token": false}`, nil, nil, 0, 1, -1, ""},
		{"eos only, token objects", `{"add_bos_token": false, "add_eos_token": true, "eos_token": {"__type": "AddedToken", "content": "</s>"}, "pad_token": {"content": "<s>"}}`,
			nil, []int{1}, 0, 1, 0, ""},
		{"null tokens", `{"bos_token": null, "pad_token": null, "chat_template": "{{ messages }}"}`,
			[]int{0}, []int{1}, -1, 1, -1, "{{ messages }}"},
		{"template list", `{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}`,
			[]int{0}, []int{1}, 0, 1, -1, "D"},
		{"template list without default", `{"chat_template": [{"name": "rag", "template": "R"}]}`,
			[]int{0}, []int{1}, 0, 1, -1, "R"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := mustTiny(t, tc.config)
			got := tok.EncodeWithSpecial("ab")
			want := append(append(slices.Clone(tc.prefix), 8), tc.suffix...)
			if !slices.Equal(got, want) {
				t.Errorf("EncodeWithSpecial = %v, want %v", got, want)
			}
			if tok.BOS() != tc.bos || tok.EOS() != tc.eos || tok.PAD() != tc.pad {
				t.Errorf("BOS/EOS/PAD = %d/%d/%d, want %d/%d/%d", tok.BOS(), tok.EOS(), tok.PAD(), tc.bos, tc.eos, tc.pad)
			}
			if tok.ChatTemplate() != tc.template {
				t.Errorf("ChatTemplate = %q, want %q", tok.ChatTemplate(), tc.template)
			}
		})
	}
}

func TestLoadChatTemplateFile(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, TokenizerFile), tinyJSON)
	write(t, filepath.Join(dir, ChatTemplateFile), "{% for m in messages %}{{ m }}{% endfor %}")
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ChatTemplate() != "{% for m in messages %}{{ m }}{% endfor %}" {
		t.Errorf("ChatTemplate = %q", tok.ChatTemplate())
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFixtureAccessors checks what the real tokenizers report.
func TestFixtureAccessors(t *testing.T) {
	g := gpt2(t)
	if g.Kind() != KindByteLevel || g.VocabSize() != 50257 || g.BOS() != 50256 || g.EOS() != 50256 || g.PAD() != -1 {
		t.Errorf("gpt2: kind %q, vocab %d, BOS %d, EOS %d, PAD %d", g.Kind(), g.VocabSize(), g.BOS(), g.EOS(), g.PAD())
	}
	if id, ok := g.TokenID("Ġthe"); !ok || id != 262 {
		t.Errorf("gpt2 TokenID(Ġthe) = %d, %v", id, ok)
	}
	if m := g.Merges(); len(m) != 50000 || m[0] != [2]string{"Ġ", "t"} {
		t.Errorf("gpt2 merges: %d, first %q", len(m), m[0])
	}
	if !g.IsSpecial(50256) || g.TokenString(50256) != "<|endoftext|>" || g.Vocab()[0] != "!" {
		t.Error("gpt2: <|endoftext|> or vocab[0] wrong")
	}

	s := stories260K(t)
	if s.Kind() != KindSentencePiece || s.VocabSize() != 512 || s.BOS() != 1 || s.EOS() != 2 || s.PAD() != -1 || s.UNK() != 0 {
		t.Errorf("stories260K: kind %q, vocab %d, BOS %d, EOS %d, PAD %d, UNK %d", s.Kind(), s.VocabSize(), s.BOS(), s.EOS(), s.PAD(), s.UNK())
	}
	if m := s.Merges(); len(m) != 165 || m[0] != [2]string{"▁", "t"} {
		t.Errorf("stories260K merges: %d, first %q", len(m), m[0])
	}
	if s.TokenString(3+0x41) != "<0x41>" || s.TokenString(1) != "<s>" {
		t.Errorf("stories260K tokens: %q %q", s.TokenString(3+0x41), s.TokenString(1))
	}
	// Special tokens are decoded as text; HF writes "<s> Hello": the Strip
	// decoder only removes a space at the very start.
	if got := s.Decode(s.EncodeWithSpecial("Hello")); got != "<s> Hello" {
		t.Errorf("stories260K Decode with BOS = %q, want %q", got, "<s> Hello")
	}
}

// variant loads a fixture's tokenizer.json with some top-level sections
// replaced.
func variant(t *testing.T, dir string, replace map[string]any) *Tokenizer {
	t.Helper()
	dir = fixture(t, dir)
	data, err := os.ReadFile(filepath.Join(dir, TokenizerFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range replace {
		m[k] = v
	}
	data, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := FromJSON(data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestVariants runs the GPT-2 vocabulary behind the Llama-3 and Qwen2 Split
// pre-tokenizers, and the stories260K vocabulary behind a Metaspace
// pre-tokenizer instead of normalizers. The expected ids come from
// transformers.js (@lenml/tokenizers 3.7.2) on the same tokenizer.json.
func TestVariants(t *testing.T) {
	split := func(pattern string) map[string]any {
		return map[string]any{"pre_tokenizer": map[string]any{
			"type": "Sequence", "pretokenizers": []any{
				map[string]any{"type": "Split", "pattern": map[string]any{"Regex": pattern}, "behavior": "Isolated", "invert": false},
				map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
			}}}
	}
	llama3 := variant(t, "tokenizers/gpt2", split(llama3Pattern))
	qwen2 := variant(t, "tokenizers/gpt2", split(qwen2Pattern))
	meta := variant(t, "models/stories260K", map[string]any{
		"normalizer": nil,
		"pre_tokenizer": map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
			"split": false, "add_prefix_space": true},
	})
	texts := []string{
		"I'LL pay 12345 dollars, won't you?\n\n  ok",
		"Hello<s>world  </s>",
		"  leading\ttab\r\nCRLF 3.14159",
		"naïve café — 日本語 🙂",
	}
	for _, tc := range []struct {
		name string
		tok  *Tokenizer
		want [][]int
	}{
		{"llama3", llama3, [][]int{
			{40, 6, 3069, 1414, 220, 10163, 2231, 5054, 11, 1839, 470, 345, 30, 628, 220, 12876},
			{15496, 27, 82, 29, 6894, 220, 7359, 82, 29},
			{220, 3756, 197, 8658, 201, 198, 34, 7836, 37, 220, 18, 13, 23756, 3270},
			{2616, 38776, 40304, 851, 10545, 245, 98, 17312, 105, 45739, 252, 32485},
		}},
		{"qwen2", qwen2, [][]int{
			{40, 6, 3069, 1414, 220, 16, 17, 18, 19, 20, 5054, 11, 1839, 470, 345, 30, 628, 220, 12876},
			{15496, 27, 82, 29, 6894, 220, 7359, 82, 29},
			{220, 3756, 197, 8658, 201, 198, 34, 7836, 37, 220, 18, 13, 16, 19, 16, 20, 24},
			{2616, 38776, 40304, 851, 10545, 245, 98, 17312, 105, 45739, 252, 32485},
		}},
		{"metaspace", meta, [][]int{
			{359, 439, 438, 438, 282, 283, 410, 475, 479, 472, 484, 480, 400, 306, 295, 419, 432, 263, 289, 439, 413, 364, 450, 13, 13, 410, 334, 433},
			{346, 306, 414, 1, 424, 304, 341, 410, 410, 2},
			{410, 278, 411, 380, 299, 12, 413, 412, 430, 16, 13, 457, 461, 438, 453, 410, 472, 426, 475, 484, 475, 480, 483},
			{297, 412, 198, 178, 360, 280, 412, 431, 485, 410, 481, 410, 233, 154, 168, 233, 159, 175, 235, 173, 161, 410, 243, 162, 156, 133},
		}},
	} {
		for i, text := range texts {
			got := tc.tok.Encode(text)
			if !slices.Equal(got, tc.want[i]) {
				t.Errorf("%s: Encode(%q)\n got %v\nwant %v", tc.name, text, got, tc.want[i])
			}
			if dec := tc.tok.Decode(got); tc.name != "metaspace" && dec != text {
				t.Errorf("%s: Decode(Encode(%q)) = %q", tc.name, text, dec)
			}
		}
	}
	// On text without added tokens or a leading space, Metaspace with
	// prepend_scheme "first" and the Prepend+Replace normalizers tokenize
	// alike.
	plain := stories260K(t)
	for _, text := range []string{"Once upon a time", "two  spaces ", "tabs\tand\nlines\n"} {
		if a, b := meta.Encode(text), plain.Encode(text); !slices.Equal(a, b) {
			t.Errorf("Metaspace %v and normalizers %v differ on %q", a, b, text)
		}
	}
}

// TestMetaspaceDecoder checks the Metaspace decoder: "▁" becomes a space,
// and in the first token it is dropped.
func TestMetaspaceDecoder(t *testing.T) {
	tok := variant(t, "models/stories260K", map[string]any{
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
			map[string]any{"type": "ByteFallback"},
			map[string]any{"type": "Fuse"},
		}},
	})
	for _, text := range []string{"Hello world", "a  b", "日本 x"} {
		ids := tok.Encode(text)
		if got := tok.Decode(ids); got != text {
			t.Errorf("Decode(Encode(%q)) = %q", text, got)
		}
		if got := streamDecode(tok, ids); got != text {
			t.Errorf("streamed Decode(Encode(%q)) = %q", text, got)
		}
	}
}

// TestByteFallbackAndUnk checks a character-level model where some
// characters have no token: byte fallback when all bytes exist, else the
// unknown token, fused when fuse_unk.
func TestByteFallbackAndUnk(t *testing.T) {
	base := `{"added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null,
	  "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]},
	  "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": FUSE, "byte_fallback": FALLBACK,
	    "vocab": {"<unk>": 0, "a": 1, "b": 2, "ab": 3, "<0xC3>": 4, "<0xA9>": 5},
	    "merges": [["a", "b"]]}}`
	for _, tc := range []struct {
		fuse, fallback string
		text           string
		want           []int
		decoded        string
	}{
		{"false", "true", "abé", []int{3, 4, 5}, "abé"},
		{"false", "true", "aßßb", []int{1, 0, 0, 2}, "a<unk><unk>b"},
		{"true", "true", "aßßb", []int{1, 0, 2}, "a<unk>b"},
		{"true", "false", "éé", []int{0}, "<unk>"},
		{"false", "false", "éab", []int{0, 3}, "<unk>ab"},
	} {
		js := strings.NewReplacer("FUSE", tc.fuse, "FALLBACK", tc.fallback).Replace(base)
		tok, err := FromJSON([]byte(js), nil)
		if err != nil {
			t.Fatal(err)
		}
		got := tok.Encode(tc.text)
		if !slices.Equal(got, tc.want) {
			t.Errorf("fuse %s fallback %s: Encode(%q) = %v, want %v", tc.fuse, tc.fallback, tc.text, got, tc.want)
		}
		if dec := tok.Decode(got); dec != tc.decoded {
			t.Errorf("fuse %s fallback %s: Decode(%v) = %q, want %q", tc.fuse, tc.fallback, got, dec, tc.decoded)
		}
		if tok.Kind() != KindSentencePiece {
			t.Errorf("Kind = %q", tok.Kind())
		}
	}
}

// TestIgnoreMergesAndPrefix checks ignore_merges (whole words found in the
// vocabulary are one token) and continuing_subword_prefix.
func TestIgnoreMergesAndPrefix(t *testing.T) {
	js := `{"added_tokens": [], "pre_tokenizer": {"type": "WhitespaceSplit"}, "decoder": null,
	  "model": {"type": "BPE", "ignore_merges": true, "continuing_subword_prefix": "##",
	    "vocab": {"a": 0, "##b": 1, "##c": 2, "ab": 3, "abc": 4, "c": 5, "##a": 6, "ca": 7},
	    "merges": ["a ##b", "c ##a"]}}`
	tok, err := FromJSON([]byte(js), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text string
		want []int
	}{
		{"abc", []int{4}},            // whole word in the vocab
		{"abcab", []int{3, 2, 6, 1}}, // a ##b ##c ##a ##b: only "a ##b" merges at the start
		{"ca ab", []int{7, 3}},
	} {
		if got := tok.Encode(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
	// No decoder: tokens are joined with spaces, as Hugging Face does.
	if got := tok.Decode([]int{3, 2}); got != "ab ##c" {
		t.Errorf("Decode = %q, want %q", got, "ab ##c")
	}
}
