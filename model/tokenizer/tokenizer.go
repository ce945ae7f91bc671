// Package tokenizer reads Hugging Face tokenizer.json BPE tokenizers and
// reproduces their token ids exactly, without Python or Rust.
//
// Two families are supported, chosen by what tokenizer.json declares:
//
//   - byte-level BPE (GPT-2, Qwen2, Llama-3): a ByteLevel pre-tokenizer (with
//     the GPT-2 split pattern, or a Split pre-tokenizer carrying the Llama-3 /
//     Qwen2 pattern), the GPT-2 bytes-to-unicode map, BPE by merge rank, and a
//     ByteLevel decoder;
//   - SentencePiece-style BPE (Llama-2, Mistral, TinyLlama, stories260K):
//     Prepend/Replace normalizers or a Metaspace pre-tokenizer, BPE over
//     characters with byte fallback to <0xNN> tokens, and a Replace /
//     ByteFallback / Fuse / Strip decoder.
//
// Added tokens (special or not) found in the text are split out before the
// BPE model runs, longest match first, as the Hugging Face tokenizers library
// does. A Tokenizer is safe for concurrent use.
//
// Where this package knowingly differs from the Hugging Face library:
//   - Decoding reads the bytes of byte tokens as UTF-8 with one U+FFFD per
//     maximal invalid subsequence (as transformers.js and a browser's
//     TextDecoder do; the Rust ByteFallback decoder writes one U+FFFD per
//     byte of a run that is not valid UTF-8). Valid text decodes alike.
//   - clean_up_tokenization_spaces is never applied: decoding is lossless.
//   - BPE dropout is ignored: encoding is always deterministic.
//   - All added tokens are matched on the raw text, also those marked
//     "normalized".
package tokenizer

import (
	"fmt"
	"os"
	"path/filepath"
)

// Kinds reported by (*Tokenizer).Kind.
const (
	// KindByteLevel is GPT-2 style BPE over the bytes of the text.
	KindByteLevel = "byte-level BPE"
	// KindSentencePiece is SentencePiece style BPE over characters with "▁"
	// standing for spaces.
	KindSentencePiece = "sentencepiece BPE"
)

// File names read by Load.
const (
	// TokenizerFile is the Hugging Face tokenizer description.
	TokenizerFile = "tokenizer.json"
	// ConfigFile is the optional transformers tokenizer configuration.
	ConfigFile = "tokenizer_config.json"
	// ChatTemplateFile is the optional stand-alone chat template newer
	// transformers versions write next to tokenizer_config.json.
	ChatTemplateFile = "chat_template.jinja"
)

// AddedToken is one entry of tokenizer.json's added_tokens.
type AddedToken struct {
	// ID is the token id.
	ID int
	// Content is the exact text of the token.
	Content string
	// Special tokens are control tokens such as <s> or <|endoftext|>.
	Special bool
	// SingleWord tokens only match when not inside a word.
	SingleWord bool
	// LStrip tokens swallow the whitespace on their left.
	LStrip bool
	// RStrip tokens swallow the whitespace on their right.
	RStrip bool
	// Normalized tells whether the token was meant to be matched on
	// normalized text (this package matches every added token on the raw
	// text, which is the same thing for the supported normalizers as long
	// as the token holds no space).
	Normalized bool
}

// Tokenizer is a loaded BPE tokenizer. Create one with Load, LoadFiles or
// FromJSON.
type Tokenizer struct {
	kind string

	// Vocabulary.
	vocab     map[string]int // model vocab plus added tokens
	idToToken []string       // by id; "" for ids no token uses
	merges    [][2]string    // in rank order, as listed in the file
	vocabSize int

	model *bpeModel

	normalizers []normalizer
	pre         preTokenizer // nil: the whole section is one word

	added      []AddedToken
	addedIndex addedMatcher
	special    map[int]bool

	// EncodeWithSpecial adds these around the text's ids.
	prefixIDs, suffixIDs []int

	bos, eos, pad, unk int
	chatTemplate       string

	dec decoderSpec
}

// Load reads dir/tokenizer.json and, when present, dir/tokenizer_config.json
// and dir/chat_template.jinja.
func Load(dir string) (*Tokenizer, error) {
	cfg := filepath.Join(dir, ConfigFile)
	if _, err := os.Stat(cfg); err != nil {
		if !os.IsNotExist(err) {
			return nil, fmt.Errorf("tokenizer: %s: %w", cfg, err)
		}
		cfg = ""
	}
	t, err := LoadFiles(filepath.Join(dir, TokenizerFile), cfg)
	if err != nil {
		return nil, err
	}
	if t.chatTemplate == "" {
		p := filepath.Join(dir, ChatTemplateFile)
		data, err := os.ReadFile(p)
		switch {
		case err == nil:
			t.chatTemplate = string(data)
		case !os.IsNotExist(err):
			return nil, fmt.Errorf("tokenizer: %s: %w", p, err)
		}
	}
	return t, nil
}

// LoadFiles reads a tokenizer.json file and an optional tokenizer_config.json
// file (pass "" for none).
func LoadFiles(tokenizerJSON, tokenizerConfigJSON string) (*Tokenizer, error) {
	data, err := os.ReadFile(tokenizerJSON)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", tokenizerJSON, err)
	}
	var cfg []byte
	if tokenizerConfigJSON != "" {
		cfg, err = os.ReadFile(tokenizerConfigJSON)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", tokenizerConfigJSON, err)
		}
	}
	return build(data, cfg, tokenizerJSON, tokenizerConfigJSON)
}

// FromJSON builds a tokenizer from the contents of tokenizer.json and of
// tokenizer_config.json (configData may be nil).
func FromJSON(data, configData []byte) (*Tokenizer, error) {
	return build(data, configData, TokenizerFile, ConfigFile)
}

// Kind returns KindByteLevel or KindSentencePiece.
func (t *Tokenizer) Kind() string { return t.kind }

// VocabSize returns one more than the largest token id, counting added
// tokens: the number of rows an embedding matrix needs at least.
func (t *Tokenizer) VocabSize() int { return t.vocabSize }

// BOS returns the beginning-of-sequence token id, or -1 when there is none.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns the end-of-sequence token id, or -1 when there is none.
func (t *Tokenizer) EOS() int { return t.eos }

// PAD returns the padding token id, or -1 when there is none.
func (t *Tokenizer) PAD() int { return t.pad }

// UNK returns the unknown token id, or -1 when there is none.
func (t *Tokenizer) UNK() int { return t.unk }

// ChatTemplate returns the Jinja chat template of tokenizer_config.json (the
// "default" one when it holds several), or "" when there is none.
func (t *Tokenizer) ChatTemplate() string { return t.chatTemplate }

// TokenString returns the vocabulary string of token id (in the model's own
// spelling: "Ġ" and "▁" for spaces, "<0x0A>" for byte tokens), or "" when no
// token has that id.
func (t *Tokenizer) TokenString(id int) string {
	if id < 0 || id >= len(t.idToToken) {
		return ""
	}
	return t.idToToken[id]
}

// TokenID returns the id of a vocabulary string (model or added token).
func (t *Tokenizer) TokenID(s string) (int, bool) {
	id, ok := t.vocab[s]
	return id, ok
}

// IsSpecial reports whether id is a special added token such as <s>.
func (t *Tokenizer) IsSpecial(id int) bool { return t.special[id] }

// AddedTokens returns a copy of the added tokens, in file order.
func (t *Tokenizer) AddedTokens() []AddedToken {
	return append([]AddedToken(nil), t.added...)
}

// Vocab returns the token strings by id, VocabSize long. Ids that no token
// uses read "[PAD<id>]", as llama.cpp's converter writes them.
func (t *Tokenizer) Vocab() []string {
	out := make([]string, len(t.idToToken))
	for i, s := range t.idToToken {
		if s == "" {
			s = fmt.Sprintf("[PAD%d]", i)
		}
		out[i] = s
	}
	return out
}

// Merges returns the BPE merges in rank order.
func (t *Tokenizer) Merges() [][2]string {
	return append([][2]string(nil), t.merges...)
}

// Encode returns the token ids of text without adding BOS/EOS. Added tokens
// written in the text (for example "<|endoftext|>") become their ids.
func (t *Tokenizer) Encode(text string) []int {
	ids := make([]int, 0, len(text)/3+4)
	return t.appendEncoded(ids, text)
}

// EncodeWithSpecial returns the token ids of text with the special tokens
// the tokenizer adds around a single sequence (BOS for Llama-2 style
// tokenizers, nothing for GPT-2), as tokenizer_config.json's add_bos_token /
// add_eos_token or else tokenizer.json's post_processor ask.
func (t *Tokenizer) EncodeWithSpecial(text string) []int {
	ids := make([]int, 0, len(text)/3+4+len(t.prefixIDs)+len(t.suffixIDs))
	ids = append(ids, t.prefixIDs...)
	ids = t.appendEncoded(ids, text)
	return append(ids, t.suffixIDs...)
}

// appendEncoded splits out added tokens and runs the normalizers, the
// pre-tokenizer and BPE over the text between them.
func (t *Tokenizer) appendEncoded(ids []int, text string) []int {
	t.addedIndex.split(text, func(start, end, addedID int) {
		if addedID >= 0 {
			ids = append(ids, addedID)
			return
		}
		s := text[start:end]
		for _, n := range t.normalizers {
			s = n.normalize(s)
		}
		if s == "" {
			return
		}
		if t.pre == nil {
			ids = t.model.encodeWord(ids, s)
			return
		}
		t.pre.split(s, start == 0, func(w string) {
			if w != "" {
				ids = t.model.encodeWord(ids, w)
			}
		})
	})
	return ids
}
