package tokenizer

import (
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites one section of input text before pre-tokenization.
type normalizer interface {
	normalize(s string) string
}

// prependNorm is the Prepend normalizer: prefix non-empty text.
type prependNorm struct{ prefix string }

func (n prependNorm) normalize(s string) string {
	if s == "" {
		return s
	}
	return n.prefix + s
}

// replaceNorm is the Replace normalizer with a literal pattern.
type replaceNorm struct{ from, to string }

func (n replaceNorm) normalize(s string) string {
	return strings.ReplaceAll(s, n.from, n.to)
}

// regexReplaceNorm is the Replace normalizer with a regex pattern.
type regexReplaceNorm struct {
	re *regexp.Regexp
	to string
}

func (n regexReplaceNorm) normalize(s string) string {
	return n.re.ReplaceAllLiteralString(s, n.to)
}

// unicodeNorm is one of the NFC, NFD, NFKC, NFKD normalizers.
type unicodeNorm struct{ form norm.Form }

func (n unicodeNorm) normalize(s string) string { return n.form.String(s) }

// lowercaseNorm is the Lowercase normalizer.
type lowercaseNorm struct{}

func (lowercaseNorm) normalize(s string) string { return strings.ToLower(s) }

// stripNorm is the Strip normalizer: trim whitespace at either end.
type stripNorm struct{ left, right bool }

func (n stripNorm) normalize(s string) string {
	if n.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if n.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}
