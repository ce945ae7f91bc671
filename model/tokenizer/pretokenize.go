package tokenizer

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// preTokenizer cuts one section of normalized text into words. first is true
// for the piece that starts the whole input (Metaspace's "first" scheme).
type preTokenizer interface {
	split(s string, first bool, emit func(string))
}

// The split patterns this package recognises by their exact text and runs
// with hand-written matchers (Go's regexp has no lookahead).
const (
	// gpt2Pattern is GPT-2's pattern, used by ByteLevel with use_regex.
	gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	// llama3Pattern is Llama-3's Split pattern (digits in groups of 3).
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// qwen2Pattern is Qwen2's Split pattern (single digits).
	qwen2Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// Character classes of the split patterns.
const (
	clsOther  = iota // [^\s\p{L}\p{N}]
	clsLetter        // \p{L}
	clsNumber        // \p{N}
	clsSpace         // \s (Unicode White_Space)
)

var asciiClass [utf8.RuneSelf]uint8

func init() {
	for c := range utf8.RuneSelf {
		asciiClass[c] = classOfRune(rune(c))
	}
}

func classOfRune(r rune) uint8 {
	switch {
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsSpace(r):
		return clsSpace
	}
	return clsOther
}

// classAt returns the class of the rune at s[i] and its size. Bytes that are
// not valid UTF-8 count as "other" characters of one byte.
func classAt(s string, i int) (uint8, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size == 1 {
		return clsOther, 1
	}
	return classOfRune(r), size
}

// scanClass returns the end of the run of class cls starting at i.
func scanClass(s string, i int, cls uint8) int {
	for i < len(s) {
		c, size := classAt(s, i)
		if c != cls {
			break
		}
		i += size
	}
	return i
}

// spaceRunEnd handles the `\s+(?!\S)|\s+` tail shared by both patterns for a
// whitespace run starting at i: the whole run at the end of the text, else
// the run minus its last character (left to prefix the next word), else the
// single whitespace character.
func spaceRunEnd(s string, i int) int {
	last, k := i, i
	for k < len(s) {
		c, size := classAt(s, k)
		if c != clsSpace {
			break
		}
		last = k
		k += size
	}
	if k == len(s) || last == i {
		return k
	}
	return last
}

// gpt2Next returns the end of the GPT-2 pattern match starting at i.
func gpt2Next(s string, i int) int {
	c := s[i]
	if c == '\'' && i+1 < len(s) {
		switch s[i+1] {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r', 'v':
			if i+2 < len(s) && s[i+2] == 'e' {
				return i + 3
			}
		case 'l':
			if i+2 < len(s) && s[i+2] == 'l' {
				return i + 3
			}
		}
	}
	j := i
	if c == ' ' {
		j++
	}
	if j < len(s) {
		cls, size := classAt(s, j)
		if cls != clsSpace {
			return scanClass(s, j+size, cls)
		}
	}
	return spaceRunEnd(s, i)
}

// foldASCII lower-cases the rune at s[i] for the (?i:...) contractions,
// mapping U+017F LATIN SMALL LETTER LONG S to 's' as Unicode case folding
// does; it returns 0 for anything else non-ASCII.
func foldAt(s string, i int) (byte, int) {
	if i >= len(s) {
		return 0, 0
	}
	c := s[i]
	if c < utf8.RuneSelf {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		return c, 1
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == 'ſ' {
		return 's', size
	}
	return 0, size
}

// llamaNext returns the end of the Llama-3 (maxDigits 3) or Qwen2
// (maxDigits 1) pattern match starting at i.
func llamaNext(s string, i, maxDigits int) int {
	c := s[i]
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if c == '\'' {
		a, na := foldAt(s, i+1)
		switch a {
		case 's', 't', 'm', 'd':
			return i + 1 + na
		case 'r', 'v', 'l':
			b, nb := foldAt(s, i+1+na)
			if (a != 'l' && b == 'e') || (a == 'l' && b == 'l') {
				return i + 1 + na + nb
			}
		}
	}
	cls, size := classAt(s, i)
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if cls == clsLetter {
		return scanClass(s, i+size, clsLetter)
	}
	if cls != clsNumber && c != '\r' && c != '\n' && i+size < len(s) {
		if c2, size2 := classAt(s, i+size); c2 == clsLetter {
			return scanClass(s, i+size+size2, clsLetter)
		}
	}
	// \p{N}{1,maxDigits}
	if cls == clsNumber {
		j := i + size
		for n := 1; n < maxDigits && j < len(s); n++ {
			c2, size2 := classAt(s, j)
			if c2 != clsNumber {
				break
			}
			j += size2
		}
		return j
	}
	//  ?[^\s\p{L}\p{N}]+[\r\n]*
	j := i
	if c == ' ' {
		j++
	}
	if j < len(s) {
		if c2, size2 := classAt(s, j); c2 == clsOther {
			k := scanClass(s, j+size2, clsOther)
			for k < len(s) && (s[k] == '\r' || s[k] == '\n') {
				k++
			}
			return k
		}
	}
	// \s*[\r\n]+ : up to the last line break of the whitespace run.
	k, nl := i, -1
	for k < len(s) {
		c2, size2 := classAt(s, k)
		if c2 != clsSpace {
			break
		}
		if s[k] == '\r' || s[k] == '\n' {
			nl = k
		}
		k += size2
	}
	if nl >= 0 {
		return nl + 1
	}
	// \s+(?!\S)|\s+
	return spaceRunEnd(s, i)
}

// matcher yields the non-overlapping matches of a split pattern in order.
type matcher func(s string, yield func(start, end int))

func gpt2Matches(s string, yield func(start, end int)) {
	for i := 0; i < len(s); {
		e := gpt2Next(s, i)
		yield(i, e)
		i = e
	}
}

func llama3Matches(s string, yield func(start, end int)) {
	for i := 0; i < len(s); {
		e := llamaNext(s, i, 3)
		yield(i, e)
		i = e
	}
}

func qwen2Matches(s string, yield func(start, end int)) {
	for i := 0; i < len(s); {
		e := llamaNext(s, i, 1)
		yield(i, e)
		i = e
	}
}

func regexpMatches(re *regexp.Regexp) matcher {
	return func(s string, yield func(start, end int)) {
		for _, m := range re.FindAllStringIndex(s, -1) {
			if m[1] > m[0] {
				yield(m[0], m[1])
			}
		}
	}
}

func literalMatches(lit string) matcher {
	return func(s string, yield func(start, end int)) {
		if lit == "" {
			return
		}
		for off := 0; ; {
			k := strings.Index(s[off:], lit)
			if k < 0 {
				return
			}
			yield(off+k, off+k+len(lit))
			off += k + len(lit)
		}
	}
}

// Split delimiter behaviours of the Hugging Face Split pre-tokenizer.
const (
	behaviorRemoved = iota
	behaviorIsolated
	behaviorMergedWithPrevious
	behaviorMergedWithNext
	behaviorContiguous
)

var behaviorNames = map[string]int{
	"Removed":            behaviorRemoved,
	"Isolated":           behaviorIsolated,
	"MergedWithPrevious": behaviorMergedWithPrevious,
	"MergedWithNext":     behaviorMergedWithNext,
	"Contiguous":         behaviorContiguous,
}

// splitPre is the Split pre-tokenizer: matches of a pattern are delimiters
// handled as behavior says (invert swaps matches and the text between them).
type splitPre struct {
	match    matcher
	behavior int
	invert   bool
	// covering is true when the matches always cover the whole text (the
	// hand-written patterns), so Isolated emits the matches directly.
	covering bool
}

func (p *splitPre) split(s string, _ bool, emit func(string)) {
	if p.covering && p.behavior == behaviorIsolated && !p.invert {
		p.match(s, func(a, b int) { emit(s[a:b]) })
		return
	}
	// Collect spans, each marked as a delimiter (match) or not.
	type span struct {
		a, b  int
		delim bool
	}
	var spans []span
	prev := 0
	p.match(s, func(a, b int) {
		if a > prev {
			spans = append(spans, span{prev, a, p.invert})
		}
		spans = append(spans, span{a, b, !p.invert})
		prev = b
	})
	if prev < len(s) {
		spans = append(spans, span{prev, len(s), p.invert})
	}
	switch p.behavior {
	case behaviorRemoved:
		for _, sp := range spans {
			if !sp.delim {
				emit(s[sp.a:sp.b])
			}
		}
	case behaviorIsolated:
		for _, sp := range spans {
			emit(s[sp.a:sp.b])
		}
	case behaviorContiguous:
		for i := 0; i < len(spans); {
			j := i + 1
			if spans[i].delim {
				for j < len(spans) && spans[j].delim {
					j++
				}
			}
			emit(s[spans[i].a:spans[j-1].b])
			i = j
		}
	case behaviorMergedWithPrevious:
		start := 0
		for _, sp := range spans {
			if sp.delim {
				emit(s[start:sp.b])
				start = sp.b
			}
		}
		if start < len(s) {
			emit(s[start:])
		}
	case behaviorMergedWithNext:
		start := 0
		for _, sp := range spans {
			if sp.delim && sp.a > start {
				emit(s[start:sp.a])
				start = sp.a
			}
		}
		if start < len(s) {
			emit(s[start:])
		}
	}
}

// byteLevelPre is the ByteLevel pre-tokenizer; the byte-to-character map
// itself is applied by the BPE model.
type byteLevelPre struct {
	addPrefixSpace bool
	useRegex       bool
}

func (p *byteLevelPre) split(s string, _ bool, emit func(string)) {
	if p.addPrefixSpace && !strings.HasPrefix(s, " ") {
		s = " " + s
	}
	if !p.useRegex {
		emit(s)
		return
	}
	for i := 0; i < len(s); {
		e := gpt2Next(s, i)
		emit(s[i:e])
		i = e
	}
}

// Metaspace prepend schemes.
const (
	prependAlways = iota
	prependFirst
	prependNever
)

// metaspacePre is the Metaspace pre-tokenizer: spaces become the replacement
// character ("▁"), one is prepended as the scheme says, and with split the
// text is cut before every replacement character.
type metaspacePre struct {
	replacement string
	scheme      int
	split_      bool
}

func (p *metaspacePre) split(s string, first bool, emit func(string)) {
	s = strings.ReplaceAll(s, " ", p.replacement)
	if (p.scheme == prependAlways || (p.scheme == prependFirst && first)) && !strings.HasPrefix(s, p.replacement) {
		s = p.replacement + s
	}
	if !p.split_ {
		emit(s)
		return
	}
	start := 0
	for off := 0; ; {
		k := strings.Index(s[off:], p.replacement)
		if k < 0 {
			break
		}
		at := off + k
		if at > start {
			emit(s[start:at])
			start = at
		}
		off = at + len(p.replacement)
	}
	if start < len(s) {
		emit(s[start:])
	}
}

// digitsPre is the Digits pre-tokenizer: runs of digits (or each digit)
// are isolated from the rest.
type digitsPre struct{ individual bool }

func (p *digitsPre) split(s string, _ bool, emit func(string)) {
	start := 0
	for i := 0; i < len(s); {
		cls, size := classAt(s, i)
		if cls != clsNumber {
			i += size
			continue
		}
		if i > start {
			emit(s[start:i])
		}
		end := i + size
		if !p.individual {
			end = scanClass(s, end, clsNumber)
		}
		emit(s[i:end])
		start, i = end, end
	}
	if start < len(s) {
		emit(s[start:])
	}
}

// whitespaceSplitPre is the WhitespaceSplit pre-tokenizer: words between
// whitespace, which is dropped.
type whitespaceSplitPre struct{}

func (whitespaceSplitPre) split(s string, _ bool, emit func(string)) {
	for _, w := range strings.FieldsFunc(s, unicode.IsSpace) {
		emit(w)
	}
}

// sequencePre runs pre-tokenizers one after another over every piece.
type sequencePre struct{ list []preTokenizer }

func (p *sequencePre) split(s string, first bool, emit func(string)) {
	p.run(0, s, first, emit)
}

func (p *sequencePre) run(k int, s string, first bool, emit func(string)) {
	if k == len(p.list) {
		emit(s)
		return
	}
	isFirst := first
	p.list[k].split(s, first, func(w string) {
		p.run(k+1, w, isFirst, emit)
		isFirst = false
	})
}
