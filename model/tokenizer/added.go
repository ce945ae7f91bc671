package tokenizer

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// addedMatcher finds added tokens in raw text: at the leftmost position
// where any matches, the longest one wins.
type addedMatcher struct {
	tokens  []AddedToken
	byFirst [256][]int32 // indices into tokens by first byte, longest first
}

func newAddedMatcher(tokens []AddedToken) addedMatcher {
	m := addedMatcher{tokens: tokens}
	for i, t := range tokens {
		if t.Content == "" {
			continue
		}
		c := t.Content[0]
		m.byFirst[c] = append(m.byFirst[c], int32(i))
	}
	for c := range m.byFirst {
		slices.SortStableFunc(m.byFirst[c], func(a, b int32) int {
			return cmp.Compare(len(tokens[b].Content), len(tokens[a].Content))
		})
	}
	return m
}

// isWordChar tells what single_word tokens may not touch.
func isWordChar(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// split calls yield for every piece of text in order: added tokens with
// their id, the text between them with id -1. Whitespace swallowed by an
// lstrip/rstrip token belongs to no piece.
func (m *addedMatcher) split(text string, yield func(start, end, id int)) {
	segStart := 0
	for i := 0; i < len(text); {
		cands := m.byFirst[text[i]]
		if len(cands) == 0 {
			i++
			continue
		}
		found := -1
		for _, k := range cands {
			t := &m.tokens[k]
			if !strings.HasPrefix(text[i:], t.Content) {
				continue
			}
			if t.SingleWord {
				if r, _ := utf8.DecodeLastRuneInString(text[:i]); i > 0 && isWordChar(r) {
					continue
				}
				if r, _ := utf8.DecodeRuneInString(text[i+len(t.Content):]); i+len(t.Content) < len(text) && isWordChar(r) {
					continue
				}
			}
			found = int(k)
			break
		}
		if found < 0 {
			i++
			continue
		}
		t := &m.tokens[found]
		start, end := i, i+len(t.Content)
		if t.LStrip {
			for start > segStart {
				r, size := utf8.DecodeLastRuneInString(text[segStart:start])
				if !unicode.IsSpace(r) {
					break
				}
				start -= size
			}
		}
		if t.RStrip {
			for end < len(text) {
				r, size := utf8.DecodeRuneInString(text[end:])
				if !unicode.IsSpace(r) {
					break
				}
				end += size
			}
		}
		if start > segStart {
			yield(segStart, start, -1)
		}
		yield(start, end, t.ID)
		segStart, i = end, end
	}
	if segStart < len(text) {
		yield(segStart, len(text), -1)
	}
}
