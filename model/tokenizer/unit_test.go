package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func sl(s ...string) []string { return s }

// TestSplitPatterns checks the hand-written matchers against splits made by
// Python's regex module (an Oniguruma-compatible engine) with the original
// patterns.
func TestSplitPatterns(t *testing.T) {
	for _, tc := range []struct {
		text                string
		gpt2, llama3, qwen2 []string
	}{
		{"Hello world!", sl("Hello", " world", "!"), sl("Hello", " world", "!"), sl("Hello", " world", "!")},
		{"  double  spaces ", sl(" ", " double", " ", " spaces", " "), sl(" ", " double", " ", " spaces", " "), sl(" ", " double", " ", " spaces", " ")},
		{"it's I'LL they'Re 'sun ''s", sl("it", "'s", " I", "'", "LL", " they", "'", "Re", " '", "sun", " ''", "s"), sl("it", "'s", " I", "'LL", " they", "'Re", " '", "sun", " ''", "s"), sl("it", "'s", " I", "'LL", " they", "'Re", " '", "sun", " ''", "s")},
		{"x'ſ y'LL", sl("x", "'", "ſ", " y", "'", "LL"), sl("x", "'ſ", " y", "'LL"), sl("x", "'ſ", " y", "'LL")},
		{"numbers 1234567 and ½Ⅷ٣", sl("numbers", " 1234567", " and", " ½Ⅷ٣"), sl("numbers", " ", "123", "456", "7", " and", " ", "½Ⅷ٣"), sl("numbers", " ", "1", "2", "3", "4", "5", "6", "7", " and", " ", "½", "Ⅷ", "٣")},
		{"tabs\tand\nnew\nlines\n\n", sl("tabs", "\t", "and", "\n", "new", "\n", "lines", "\n\n"), sl("tabs", "\tand", "\n", "new", "\n", "lines", "\n\n"), sl("tabs", "\tand", "\n", "new", "\n", "lines", "\n\n")},
		{"a \n\n b\r\n\r\n  c", sl("a", " \n\n", " b", "\r\n\r\n ", " c"), sl("a", " \n\n", " b", "\r\n\r\n", " ", " c"), sl("a", " \n\n", " b", "\r\n\r\n", " ", " c")},
		{"(word) \"quoted\" #tag", sl("(", "word", ")", " \"", "quoted", "\"", " #", "tag"), sl("(word", ")", " \"", "quoted", "\"", " #", "tag"), sl("(word", ")", " \"", "quoted", "\"", " #", "tag")},
		{"日本語 のテキスト🙂✓", sl("日本語", " のテキスト", "🙂✓"), sl("日本語", " のテキスト", "🙂✓"), sl("日本語", " のテキスト", "🙂✓")},
		{"\u00a0nbsp\u3000ideo\u2028ls", sl("\u00a0", "nbsp", "\u3000", "ideo", "\u2028", "ls"), sl("\u00a0nbsp", "\u3000ideo", "\u2028ls"), sl("\u00a0nbsp", "\u3000ideo", "\u2028ls")},
		{"end   ", sl("end", "   "), sl("end", "   "), sl("end", "   ")},
		{"?!\n\nx", sl("?!", "\n", "\n", "x"), sl("?!\n\n", "x"), sl("?!\n\n", "x")},
		{"\u0085nel\ufeffbom\u000bvt", sl("\u0085", "nel", "\ufeff", "bom", "\u000b", "vt"), sl("\u0085nel", "\ufeffbom", "\u000bvt"), sl("\u0085nel", "\ufeffbom", "\u000bvt")},
		{"", sl(), sl(), sl()},
	} {
		for _, m := range []struct {
			name  string
			match matcher
			want  []string
		}{
			{"gpt2", gpt2Matches, tc.gpt2},
			{"llama3", llama3Matches, tc.llama3},
			{"qwen2", qwen2Matches, tc.qwen2},
		} {
			var got []string
			m.match(tc.text, func(a, b int) { got = append(got, tc.text[a:b]) })
			if !slices.Equal(got, m.want) {
				t.Errorf("%s split of %q:\n got %q\nwant %q", m.name, tc.text, got, m.want)
			}
		}
	}
}

// TestSplitBehaviors checks the Split delimiter behaviours on a literal
// pattern, as the Hugging Face documentation describes them.
func TestSplitBehaviors(t *testing.T) {
	const text = "the-final--countdown-"
	for _, tc := range []struct {
		behavior int
		invert   bool
		want     []string
	}{
		{behaviorRemoved, false, sl("the", "final", "countdown")},
		{behaviorIsolated, false, sl("the", "-", "final", "-", "-", "countdown", "-")},
		{behaviorMergedWithPrevious, false, sl("the-", "final-", "-", "countdown-")},
		{behaviorMergedWithNext, false, sl("the", "-final", "-", "-countdown", "-")},
		{behaviorContiguous, false, sl("the", "-", "final", "--", "countdown", "-")},
		{behaviorRemoved, true, sl("-", "-", "-", "-")},
	} {
		p := &splitPre{match: literalMatches("-"), behavior: tc.behavior, invert: tc.invert}
		var got []string
		p.split(text, true, func(w string) { got = append(got, w) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("behavior %d invert %v: got %q, want %q", tc.behavior, tc.invert, got, tc.want)
		}
	}
}

// TestPreTokenizers checks Metaspace, Digits, WhitespaceSplit, ByteLevel
// with a prefix space and a Sequence of them.
func TestPreTokenizers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		p     preTokenizer
		text  string
		first bool
		want  []string
	}{
		{"metaspace split", &metaspacePre{replacement: "▁", scheme: prependAlways, split_: true}, "Hey  you", false, sl("▁Hey", "▁", "▁you")},
		{"metaspace no split", &metaspacePre{replacement: "▁", scheme: prependAlways}, "Hey you", false, sl("▁Hey▁you")},
		{"metaspace first, not first", &metaspacePre{replacement: "▁", scheme: prependFirst}, "Hey", false, sl("Hey")},
		{"metaspace first", &metaspacePre{replacement: "▁", scheme: prependFirst}, "Hey", true, sl("▁Hey")},
		{"metaspace never", &metaspacePre{replacement: "▁", scheme: prependNever}, "Hey", true, sl("Hey")},
		{"metaspace leading space", &metaspacePre{replacement: "▁", scheme: prependAlways}, " Hey", true, sl("▁Hey")},
		{"digits", &digitsPre{}, "abc123d4", false, sl("abc", "123", "d", "4")},
		{"digits individual", &digitsPre{individual: true}, "a12", false, sl("a", "1", "2")},
		{"whitespace split", whitespaceSplitPre{}, " a  b\tc ", false, sl("a", "b", "c")},
		{"bytelevel prefix space", &byteLevelPre{addPrefixSpace: true, useRegex: true}, "Hi there", false, sl(" Hi", " there")},
		{"bytelevel no regex", &byteLevelPre{}, "Hi there", false, sl("Hi there")},
		{"sequence", &sequencePre{list: []preTokenizer{&digitsPre{individual: true}, &byteLevelPre{useRegex: true}}}, "ab 12c", false, sl("ab", " ", "1", "2", "c")},
	} {
		var got []string
		tc.p.split(tc.text, tc.first, func(w string) { got = append(got, w) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: split(%q) = %q, want %q", tc.name, tc.text, got, tc.want)
		}
	}
}

// TestAppendLossy checks UTF-8 decoding against Python's
// bytes.decode("utf-8", "replace"), which like TextDecoder writes one U+FFFD
// per maximal ill-formed subpart.
func TestAppendLossy(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		used     int // bytes read when not final
	}{
		{"abc", "abc", 3},
		{"\xe6\x97\xa5", "日", 3},
		{"\xe6\x97a", "\ufffda", 3},
		{"\xe6\x97", "\ufffd", 0},
		{"\xf0\x80\x80", "\ufffd\ufffd\ufffd", 3},
		{"\xed\xa0\x80", "\ufffd\ufffd\ufffd", 3},
		{"\xc0\xaf", "\ufffd\ufffd", 2},
		{"\xf4\x90\x80\x80", "\ufffd\ufffd\ufffd\ufffd", 4},
		{"\xf0\x9f\x99", "\ufffd", 0},
		{"\x80\x80x", "\ufffd\ufffdx", 3},
		{"\xe0\xa0", "\ufffd", 0},
		{"\xff", "\ufffd", 1},
		{"a\xf0\x9f\x99\x82b", "a🙂b", 6},
		{"\xe6\xe6\x97\xa5", "\ufffd日", 4},
		{"ok\xe6\x97", "ok\ufffd", 2},
	} {
		got, _ := appendLossy(nil, []byte(tc.in), true)
		if string(got) != tc.want {
			t.Errorf("final decode of %q = %q, want %q", tc.in, got, tc.want)
		}
		_, used := appendLossy(nil, []byte(tc.in), false)
		if used != tc.used {
			t.Errorf("streaming decode of %q read %d bytes, want %d", tc.in, used, tc.used)
		}
	}
}

// TestMergeSmallMatchesHeap checks that the two BPE merge loops agree on
// random words over a small alphabet with many overlapping merges.
func TestMergeSmallMatchesHeap(t *testing.T) {
	// Vocab: a, b, c and every merge result listed below.
	vocab := map[string]int{"a": 0, "b": 1, "c": 2}
	var merges [][2]string
	add := func(x, y string) {
		merges = append(merges, [2]string{x, y})
		if _, ok := vocab[x+y]; !ok {
			vocab[x+y] = len(vocab)
		}
	}
	add("a", "b")
	add("b", "a")
	add("a", "a")
	add("ab", "c")
	add("c", "c")
	add("a", "bc")
	add("ba", "ab")
	add("cc", "cc")
	add("aa", "a")
	add("c", "ab")
	m := &bpeModel{vocab: vocab, merges: map[uint64]uint64{}}
	for i, mg := range merges {
		m.merges[pairKey(int32(vocab[mg[0]]), int32(vocab[mg[1]]))] = uint64(i)<<32 | uint64(vocab[mg[0]+mg[1]])
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := 2 + rng.IntN(120)
		syms := make([]int32, n)
		for i := range syms {
			syms[i] = int32(rng.IntN(3))
		}
		small := m.mergeSmall(slices.Clone(syms), &bpeWork{})
		var got []int
		for _, s := range small {
			got = append(got, int(s))
		}
		heap := m.mergeHeap(nil, slices.Clone(syms), &bpeWork{})
		if !slices.Equal(got, heap) {
			t.Fatalf("word %v: rescan gives %v, heap gives %v", syms, got, heap)
		}
	}
}

// TestStreamingMultiByte checks that characters split over byte tokens come
// out of the streaming decoder whole, with their last byte.
func TestStreamingMultiByte(t *testing.T) {
	for _, tc := range []struct {
		name string
		tok  *Tokenizer
		text string
	}{
		{"stories260K byte fallback", stories260K(t), "日本 🙂 x"},
		{"gpt2 byte-level", gpt2(t), "日本 🙂 x"},
	} {
		ids := tc.tok.Encode(tc.text)
		d := tc.tok.NewDecoder()
		var parts []string
		for _, id := range ids {
			p := d.Next(id)
			if strings.ContainsRune(p, '\uFFFD') {
				t.Errorf("%s: Next(%d) = %q holds a replacement character", tc.name, id, p)
			}
			parts = append(parts, p)
		}
		if rest := d.Flush(); rest != "" {
			t.Errorf("%s: Flush() = %q after complete text", tc.name, rest)
		}
		if got := strings.Join(parts, ""); got != tc.text {
			t.Errorf("%s: streamed %q, want %q", tc.name, got, tc.text)
		}
		// Some Next call must have returned "" (an incomplete character).
		if !slices.Contains(parts, "") {
			t.Errorf("%s: every token completed text: %q", tc.name, parts)
		}
	}
	// A cut-off character: Decode and Flush both end with U+FFFD.
	tok := stories260K(t)
	ids := tok.Encode("日")
	ids = ids[:len(ids)-1]
	if got, want := streamDecode(tok, ids), tok.Decode(ids); got != want || !strings.HasSuffix(got, "\uFFFD") {
		t.Errorf("cut-off character: stream %q, Decode %q", got, want)
	}
}
