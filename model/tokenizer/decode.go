package tokenizer

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Kinds of per-token decode steps.
const (
	stepReplace      = iota // replace from with to in the token text
	stepByteFallback        // "<0xNN>" becomes the byte NN
	stepByteLevel           // GPT-2 characters become their bytes
	stepStrip               // strip n leading and stop trailing content chars
	stepMetaspace           // the replacement char becomes a space; in the first token it is dropped
)

type decodeStep struct {
	kind     int
	from, to string // stepReplace; stepStrip: from is the content; stepMetaspace: from is the replacement
	n, stop  int    // stepStrip
	dropHead bool   // stepMetaspace: drop the replacement in the first token
}

// decoderSpec is tokenizer.json's decoder compiled into per-token steps and
// a strip of the fused output: every token becomes a piece of bytes, the
// pieces are concatenated and read as UTF-8 (invalid bytes become U+FFFD,
// one per maximal invalid subsequence, as a browser's TextDecoder and
// Rust's from_utf8_lossy do), and leadStrip leading leadChar characters are
// removed from the result.
type decoderSpec struct {
	steps     []decodeStep
	pieces    [][]byte // by id, for tokens other than the first
	firstDiff bool     // the first token's piece must be computed anew
	leadStrip int
	leadChar  rune
	joinSpace bool // no decoder: tokens are joined with spaces
}

// pieceOf runs the per-token steps over one token string.
func (d *decoderSpec) pieceOf(tok string, first bool) []byte {
	var b []byte    // set once the token has become bytes
	isText := true  // tok still holds the text
	isByte := false // the token is a byte-fallback byte
	for _, st := range d.steps {
		switch st.kind {
		case stepReplace:
			if isText {
				tok = strings.ReplaceAll(tok, st.from, st.to)
			} else if !isByte {
				b = bytes.ReplaceAll(b, []byte(st.from), []byte(st.to))
			}
		case stepByteFallback:
			if isText {
				if c, ok := parseByteToken(tok); ok {
					b, isText, isByte = []byte{c}, false, true
				}
			}
		case stepByteLevel:
			if isText {
				if bl, ok := byteLevelBytes(tok); ok {
					b = bl
				} else {
					b = []byte(tok)
				}
				isText = false
			}
		case stepStrip:
			if isText {
				tok = stripChars(tok, st.from, st.n, st.stop)
			}
		case stepMetaspace:
			if isText {
				if first && st.dropHead {
					tok = strings.ReplaceAll(tok, st.from, "")
				} else {
					tok = strings.ReplaceAll(tok, st.from, " ")
				}
			}
		}
	}
	if isText {
		return []byte(tok)
	}
	return b
}

// stripChars removes up to n leading and stop trailing copies of the
// character c.
func stripChars(s, c string, n, stop int) string {
	for ; n > 0 && c != "" && strings.HasPrefix(s, c); n-- {
		s = s[len(c):]
	}
	for ; stop > 0 && c != "" && strings.HasSuffix(s, c); stop-- {
		s = s[:len(s)-len(c)]
	}
	return s
}

// parseByteToken reads a "<0xNN>" byte-fallback token.
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || !strings.HasPrefix(s, "<0x") || s[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexVal(s[3])
	lo, ok2 := hexVal(s[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// piece returns the bytes token id decodes to, and false for ids no token
// uses (the Hugging Face decoder skips those).
func (t *Tokenizer) piece(id int, first bool) ([]byte, bool) {
	if id < 0 || id >= len(t.idToToken) || t.idToToken[id] == "" {
		return nil, false
	}
	if first && t.dec.firstDiff {
		return t.dec.pieceOf(t.idToToken[id], true), true
	}
	return t.dec.pieces[id], true
}

// Decode returns the text of ids. Special tokens are written out as their
// text ("<s>"); ids that no token uses are skipped. Hugging Face's
// clean_up_tokenization_spaces pass is not applied, so decoding is lossless.
func (t *Tokenizer) Decode(ids []int) string {
	buf := make([]byte, 0, 4*len(ids))
	n := 0
	for _, id := range ids {
		p, ok := t.piece(id, n == 0)
		if !ok {
			continue
		}
		if t.dec.joinSpace && n > 0 {
			buf = append(buf, ' ')
		}
		buf = append(buf, p...)
		n++
	}
	out, _ := appendLossy(make([]byte, 0, len(buf)), buf, true)
	s := string(out)
	for k := 0; k < t.dec.leadStrip && s != ""; k++ {
		r, size := utf8.DecodeRuneInString(s)
		if r != t.dec.leadChar {
			break
		}
		s = s[size:]
	}
	return s
}

// Decoder turns a stream of token ids into text as soon as the text is
// complete: a UTF-8 character split over several byte tokens comes out with
// its last byte. Concatenating every Next and the final Flush gives Decode
// of all the ids. A Decoder is not safe for concurrent use.
type Decoder struct {
	t       *Tokenizer
	n       int    // tokens decoded so far
	pending []byte // bytes of an incomplete character
	strip   int    // leading characters still to strip
	out     []byte
}

// NewDecoder returns a streaming decoder.
func (t *Tokenizer) NewDecoder() *Decoder {
	return &Decoder{t: t, strip: t.dec.leadStrip}
}

// Next adds one token and returns the text that became complete.
func (d *Decoder) Next(id int) string {
	p, ok := d.t.piece(id, d.n == 0)
	if !ok {
		return ""
	}
	if d.t.dec.joinSpace && d.n > 0 {
		d.pending = append(d.pending, ' ')
	}
	d.n++
	d.pending = append(d.pending, p...)
	var used int
	d.out, used = appendLossy(d.out[:0], d.pending, false)
	d.pending = d.pending[:copy(d.pending, d.pending[used:])]
	return d.emit()
}

// Flush returns what is left: U+FFFD for an incomplete character at the end.
// The decoder can go on afterwards as if new.
func (d *Decoder) Flush() string {
	d.out, _ = appendLossy(d.out[:0], d.pending, true)
	d.pending = d.pending[:0]
	s := d.emit()
	d.n, d.strip = 0, d.t.dec.leadStrip
	return s
}

// emit applies the leading strip to d.out and returns it.
func (d *Decoder) emit() string {
	out := d.out
	for d.strip > 0 && len(out) > 0 {
		r, size := utf8.DecodeRune(out)
		if r != d.t.dec.leadChar {
			d.strip = 0
			break
		}
		out = out[size:]
		d.strip--
	}
	if len(out) > 0 {
		d.strip = 0
	}
	return string(out)
}

// appendLossy appends b read as UTF-8 to dst, with one U+FFFD for each
// maximal subpart of an ill-formed sequence (the Unicode "best practice"
// that TextDecoder and from_utf8_lossy follow). Unless final, an incomplete
// sequence at the end of b is left: used tells how many bytes were read.
func appendLossy(dst, b []byte, final bool) (out []byte, used int) {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			dst = append(dst, b[i:i+size]...)
			i += size
			continue
		}
		need, lo, hi := utf8Lead(c)
		j := i + 1
		for k := 1; k < need && j < len(b); k++ {
			x := b[j]
			l, h := byte(0x80), byte(0xBF)
			if k == 1 {
				l, h = lo, hi
			}
			if x < l || x > h {
				break
			}
			j++
		}
		if j == len(b) && need > j-i && !final {
			return dst, i
		}
		dst = append(dst, "\uFFFD"...)
		i = j
	}
	return dst, len(b)
}

// utf8Lead returns the length of the sequence a lead byte starts and the
// range allowed for its second byte; need is 0 for bytes that cannot start
// a sequence.
func utf8Lead(c byte) (need int, lo, hi byte) {
	switch {
	case c >= 0xC2 && c <= 0xDF:
		return 2, 0x80, 0xBF
	case c == 0xE0:
		return 3, 0xA0, 0xBF
	case c == 0xED:
		return 3, 0x80, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		return 3, 0x80, 0xBF
	case c == 0xF0:
		return 4, 0x90, 0xBF
	case c >= 0xF1 && c <= 0xF3:
		return 4, 0x80, 0xBF
	case c == 0xF4:
		return 4, 0x80, 0x8F
	}
	return 0, 0, 0
}
