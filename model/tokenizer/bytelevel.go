package tokenizer

import "strings"

// bytesToUnicode is GPT-2's reversible map from bytes to printable
// characters: printable Latin-1 bytes stand for themselves, the others
// (controls, space, soft hyphen...) are moved to U+0100 and up, so that a
// space reads "Ġ" and a newline "Ċ".
var bytesToUnicode [256]rune

// unicodeToBytes inverts bytesToUnicode; its keys are below 0x144.
var unicodeToBytes = map[rune]byte{}

func init() {
	n := 0
	for b := range 256 {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			bytesToUnicode[b] = rune(b)
		} else {
			bytesToUnicode[b] = rune(256 + n)
			n++
		}
		unicodeToBytes[bytesToUnicode[b]] = byte(b)
	}
}

// byteLevelString maps every byte of s through bytesToUnicode.
func byteLevelString(s string) string {
	var sb strings.Builder
	sb.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		sb.WriteRune(bytesToUnicode[s[i]])
	}
	return sb.String()
}

// byteLevelBytes maps a byte-level token back to its bytes; ok is false when
// a character of tok is not in the map.
func byteLevelBytes(tok string) (b []byte, ok bool) {
	b = make([]byte, 0, len(tok))
	for _, r := range tok {
		c, found := unicodeToBytes[r]
		if !found {
			return nil, false
		}
		b = append(b, c)
	}
	return b, true
}
