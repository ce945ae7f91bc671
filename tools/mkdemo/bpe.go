package main

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
)

// EndOfText is the demo tokenizer's one special token (BOS, EOS and pad).
const EndOfText = "<|endoftext|>"

// byteChars is GPT-2's bytes_to_unicode table: the printable character
// each byte is written as in a byte-level BPE vocabulary, and byteOrder the
// order GPT-2 gives those characters ids 0..255.
var byteChars, byteOrder = func() ([256]string, []int) {
	var chars [256]string
	var order []int
	var rest []int
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			chars[b] = string(rune(b))
			order = append(order, b)
		} else {
			rest = append(rest, b)
		}
	}
	for n, b := range rest {
		chars[b] = string(rune(256 + n))
	}
	return chars, append(order, rest...)
}()

// words splits text as GPT-2's pre-tokenizer does (without its look-ahead
// rule for runs of spaces, which the demo's text never has).
var wordRE = regexp.MustCompile(`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+`)

// LearnBPE learns merges byte-level BPE merges from text: the most frequent
// adjacent pair first (ties broken by the pair's text, so the result is
// deterministic), until merges are learned or no pair occurs twice.
func LearnBPE(text string, merges int) [][2]string {
	counts := map[string]int{}
	for _, w := range wordRE.FindAllString(text, -1) {
		counts[w]++
	}
	type word struct {
		syms []string
		n    int
	}
	var ws []word
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var syms []string
		for _, b := range []byte(k) {
			syms = append(syms, byteChars[b])
		}
		ws = append(ws, word{syms, counts[k]})
	}
	var out [][2]string
	for len(out) < merges {
		pairs := map[[2]string]int{}
		for _, w := range ws {
			for i := 0; i+1 < len(w.syms); i++ {
				pairs[[2]string{w.syms[i], w.syms[i+1]}] += w.n
			}
		}
		var best [2]string
		bestN := 1
		for p, n := range pairs {
			if n > bestN || (n == bestN && bestN > 1 && p[0]+" "+p[1] < best[0]+" "+best[1]) {
				best, bestN = p, n
			}
		}
		if bestN < 2 {
			break
		}
		out = append(out, best)
		joined := best[0] + best[1]
		for wi := range ws {
			s := ws[wi].syms
			var m []string
			for i := 0; i < len(s); i++ {
				if i+1 < len(s) && s[i] == best[0] && s[i+1] == best[1] {
					m = append(m, joined)
					i++
					continue
				}
				m = append(m, s[i])
			}
			ws[wi].syms = m
		}
	}
	return out
}

// TokenizerJSON writes a Hugging Face tokenizer.json for a byte-level BPE
// with these merges (the GPT-2 layout) and EndOfText as the last id. It
// returns the file and the vocabulary size.
func TokenizerJSON(merges [][2]string) ([]byte, int) {
	type kv struct {
		k string
		v int
	}
	var vocab []kv
	for id, b := range byteOrder {
		vocab = append(vocab, kv{byteChars[b], id})
	}
	seen := map[string]bool{}
	for _, v := range vocab {
		seen[v.k] = true
	}
	var mergeStrs []string
	for _, m := range merges {
		t := m[0] + m[1]
		mergeStrs = append(mergeStrs, m[0]+" "+m[1])
		if !seen[t] {
			seen[t] = true
			vocab = append(vocab, kv{t, len(vocab)})
		}
	}
	eot := len(vocab)
	// An ordered vocab object: encoding/json sorts map keys, which is fine
	// for the reader, but ids in order read better.
	var vb strings.Builder
	vb.WriteString("{")
	for i, v := range vocab {
		if i > 0 {
			vb.WriteString(",")
		}
		k, _ := json.Marshal(v.k)
		vb.Write(k)
		vb.WriteString(":")
		vb.WriteString(itoa(v.v))
	}
	vb.WriteString("}")
	doc := map[string]any{
		"version":    "1.0",
		"truncation": nil,
		"padding":    nil,
		"added_tokens": []map[string]any{{"id": eot, "content": EndOfText, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": true, "special": true}},
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false,
			"vocab": json.RawMessage(vb.String()), "merges": mergeStrs},
	}
	b, _ := json.MarshalIndent(doc, "", " ")
	return append(b, '\n'), eot + 1
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
