package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxTokenID bounds token ids so that a corrupt file cannot make the loader
// allocate gigabytes.
const maxTokenID = 1 << 24

type tokenizerJSON struct {
	AddedTokens   []addedTokenJSON `json:"added_tokens"`
	Normalizer    *componentJSON   `json:"normalizer"`
	PreTokenizer  *componentJSON   `json:"pre_tokenizer"`
	PostProcessor *componentJSON   `json:"post_processor"`
	Decoder       *componentJSON   `json:"decoder"`
	Model         json.RawMessage  `json:"model"` // parsed once its type is known
}

type addedTokenJSON struct {
	ID         *int   `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type modelJSON struct {
	Type                    string          `json:"type"`
	Vocab                   map[string]int  `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
}

// componentJSON holds the fields of every normalizer, pre-tokenizer,
// post-processor and decoder type this package reads.
type componentJSON struct {
	Type string `json:"type"`
	// Sequences.
	Normalizers   []*componentJSON `json:"normalizers"`
	PreTokenizers []*componentJSON `json:"pretokenizers"`
	Decoders      []*componentJSON `json:"decoders"`
	Processors    []*componentJSON `json:"processors"`
	// Prepend, Replace, Split, Strip.
	Prepend    string       `json:"prepend"`
	Pattern    *patternJSON `json:"pattern"`
	Content    string       `json:"content"`
	Behavior   string       `json:"behavior"`
	Invert     bool         `json:"invert"`
	Start      int          `json:"start"`
	Stop       int          `json:"stop"`
	StripLeft  bool         `json:"strip_left"`
	StripRight bool         `json:"strip_right"`
	// ByteLevel, Metaspace, Digits.
	AddPrefixSpace   *bool  `json:"add_prefix_space"`
	UseRegex         *bool  `json:"use_regex"`
	Replacement      string `json:"replacement"`
	PrependScheme    string `json:"prepend_scheme"`
	Split            *bool  `json:"split"`
	IndividualDigits bool   `json:"individual_digits"`
	// TemplateProcessing, RobertaProcessing, BertProcessing.
	Single        []map[string]templateItemJSON `json:"single"`
	SpecialTokens map[string]struct {
		IDs []int `json:"ids"`
	} `json:"special_tokens"`
	Sep []json.RawMessage `json:"sep"`
	Cls []json.RawMessage `json:"cls"`
}

type patternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

type templateItemJSON struct {
	ID string `json:"id"`
}

type configJSON struct {
	AddBOS       *bool           `json:"add_bos_token"`
	AddEOS       *bool           `json:"add_eos_token"`
	BOS          json.RawMessage `json:"bos_token"`
	EOS          json.RawMessage `json:"eos_token"`
	PAD          json.RawMessage `json:"pad_token"`
	UNK          json.RawMessage `json:"unk_token"`
	ChatTemplate json.RawMessage `json:"chat_template"`
}

// jsonError describes a decoding error of data with its line and column;
// base is the offset in data of the text that was decoded.
func jsonError(data []byte, base int64, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := lineCol(data, base+se.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %v", line, col, se)
	case errors.As(err, &te):
		line, col := lineCol(data, base+te.Offset)
		field := te.Field
		if field == "" {
			field = "the value"
		}
		return fmt.Errorf("invalid JSON at line %d, column %d: %s is a JSON %s, want %s", line, col, field, te.Value, te.Type)
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	if col < 1 {
		col = 1
	}
	return line, col
}

// build parses tokenizer.json (and tokenizer_config.json when cfgData is not
// nil); jsonName and cfgName name them in errors.
func build(data, cfgData []byte, jsonName, cfgName string) (*Tokenizer, error) {
	t, err := buildTokenizer(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", jsonName, err)
	}
	if err := t.applyConfig(cfgData); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", cfgName, err)
	}
	return t, nil
}

func buildTokenizer(data []byte) (*Tokenizer, error) {
	var tj tokenizerJSON
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, jsonError(data, 0, err)
	}
	if isNull(tj.Model) {
		return nil, errors.New(`no "model" section`)
	}
	var head struct {
		Type   any             `json:"type"`
		Merges json.RawMessage `json:"merges"`
	}
	// modelAt is where the model section starts, for error positions.
	modelAt := func() int64 { return int64(max(bytes.Index(data, tj.Model), 0)) }
	if err := json.Unmarshal(tj.Model, &head); err != nil {
		return nil, jsonError(data, modelAt(), err)
	}
	typ, _ := head.Type.(string)
	switch {
	case head.Type == nil && head.Merges != nil:
		// older files leave the type of BPE models out
	case head.Type == nil:
		return nil, errors.New(`model has no "type" and no merges (supported: BPE)`)
	case typ != "BPE":
		return nil, fmt.Errorf("unsupported model type %v (supported: BPE)", abbreviate(mustJSON(head.Type)))
	}
	var mj modelJSON
	if err := json.Unmarshal(tj.Model, &mj); err != nil {
		return nil, jsonError(data, modelAt(), err)
	}
	if len(mj.Vocab) == 0 {
		return nil, errors.New("model.vocab is missing or empty")
	}

	t := &Tokenizer{bos: -1, eos: -1, pad: -1, unk: -1}

	// Vocabulary: model tokens, then added tokens over them.
	maxID := -1
	for tok, id := range mj.Vocab {
		if id < 0 || id >= maxTokenID {
			return nil, fmt.Errorf("model.vocab: token %q has id %d, out of range [0, %d)", tok, id, maxTokenID)
		}
		maxID = max(maxID, id)
	}
	for i, a := range tj.AddedTokens {
		if a.ID == nil {
			return nil, fmt.Errorf("added_tokens[%d] (%q) has no id", i, a.Content)
		}
		if *a.ID < 0 || *a.ID >= maxTokenID {
			return nil, fmt.Errorf("added_tokens[%d] (%q) has id %d, out of range [0, %d)", i, a.Content, *a.ID, maxTokenID)
		}
		if a.Content == "" {
			return nil, fmt.Errorf("added_tokens[%d] (id %d) has empty content", i, *a.ID)
		}
		maxID = max(maxID, *a.ID)
	}
	t.idToToken = make([]string, maxID+1)
	t.vocab = make(map[string]int, len(mj.Vocab)+len(tj.AddedTokens))
	for tok, id := range mj.Vocab {
		t.idToToken[id] = tok
		t.vocab[tok] = id
	}
	t.special = map[int]bool{}
	for _, a := range tj.AddedTokens {
		at := AddedToken{ID: *a.ID, Content: a.Content, Special: a.Special, SingleWord: a.SingleWord,
			LStrip: a.LStrip, RStrip: a.RStrip, Normalized: a.Normalized}
		t.added = append(t.added, at)
		t.idToToken[at.ID] = at.Content
		t.vocab[at.Content] = at.ID
		if at.Special {
			t.special[at.ID] = true
		}
	}
	t.vocabSize = len(t.idToToken)
	t.addedIndex = newAddedMatcher(t.added)

	// Normalizer and pre-tokenizer.
	var err error
	if t.normalizers, err = parseNormalizer(tj.Normalizer, "normalizer"); err != nil {
		return nil, err
	}
	byteLevelPreTok := false
	if t.pre, byteLevelPreTok, err = parsePreTokenizer(tj.PreTokenizer, "pre_tokenizer", true); err != nil {
		return nil, err
	}

	// Model.
	if t.model, err = buildBPE(&mj, byteLevelPreTok); err != nil {
		return nil, err
	}
	t.merges = t.model.mergeList
	t.model.mergeList = nil
	if mj.UnkToken != nil {
		t.unk = int(t.model.unkID)
	}

	// Decoder.
	byteLevelDec := false
	if t.dec, byteLevelDec, err = parseDecoder(tj.Decoder); err != nil {
		return nil, err
	}
	t.dec.pieces = make([][]byte, len(t.idToToken))
	for id, tok := range t.idToToken {
		if tok != "" {
			t.dec.pieces[id] = t.dec.pieceOf(tok, false)
		}
	}

	t.kind = KindSentencePiece
	if byteLevelPreTok || byteLevelDec {
		t.kind = KindByteLevel
	}

	// Post-processor.
	if t.prefixIDs, t.suffixIDs, err = parsePostProcessor(tj.PostProcessor, "post_processor", t.vocab); err != nil {
		return nil, err
	}
	if len(t.prefixIDs) == 1 {
		t.bos = t.prefixIDs[0]
	}
	if len(t.suffixIDs) == 1 {
		t.eos = t.suffixIDs[0]
	}
	return t, nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func parseNormalizer(c *componentJSON, where string) ([]normalizer, error) {
	if c == nil {
		return nil, nil
	}
	switch c.Type {
	case "Sequence":
		var out []normalizer
		for i, sub := range c.Normalizers {
			ns, err := parseNormalizer(sub, fmt.Sprintf("%s.normalizers[%d]", where, i))
			if err != nil {
				return nil, err
			}
			out = append(out, ns...)
		}
		return out, nil
	case "Prepend":
		return []normalizer{prependNorm{c.Prepend}}, nil
	case "Replace":
		switch {
		case c.Pattern != nil && c.Pattern.String != nil:
			return []normalizer{replaceNorm{*c.Pattern.String, c.Content}}, nil
		case c.Pattern != nil && c.Pattern.Regex != nil:
			re, err := regexp.Compile(*c.Pattern.Regex)
			if err != nil {
				return nil, fmt.Errorf("%s: Replace regex %q is not supported: %v", where, *c.Pattern.Regex, err)
			}
			return []normalizer{regexReplaceNorm{re, c.Content}}, nil
		}
		return nil, fmt.Errorf("%s: Replace has no String or Regex pattern", where)
	case "NFC":
		return []normalizer{unicodeNorm{norm.NFC}}, nil
	case "NFD":
		return []normalizer{unicodeNorm{norm.NFD}}, nil
	case "NFKC":
		return []normalizer{unicodeNorm{norm.NFKC}}, nil
	case "NFKD":
		return []normalizer{unicodeNorm{norm.NFKD}}, nil
	case "Lowercase":
		return []normalizer{lowercaseNorm{}}, nil
	case "Strip":
		return []normalizer{stripNorm{c.StripLeft, c.StripRight}}, nil
	}
	return nil, fmt.Errorf("%s: unsupported normalizer type %q (supported: Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase, Strip)", where, c.Type)
}

// parsePreTokenizer returns the pre-tokenizer and whether it ends with a
// ByteLevel one (whose byte map the BPE model applies). last tells whether
// nothing runs after this one.
func parsePreTokenizer(c *componentJSON, where string, last bool) (preTokenizer, bool, error) {
	if c == nil {
		return nil, false, nil
	}
	switch c.Type {
	case "Sequence":
		seq := &sequencePre{}
		byteLevel := false
		for i, sub := range c.PreTokenizers {
			p, bl, err := parsePreTokenizer(sub, fmt.Sprintf("%s.pretokenizers[%d]", where, i), last && i == len(c.PreTokenizers)-1)
			if err != nil {
				return nil, false, err
			}
			if p != nil {
				seq.list = append(seq.list, p)
			}
			byteLevel = byteLevel || bl
		}
		return seq, byteLevel, nil
	case "ByteLevel":
		if !last {
			return nil, false, fmt.Errorf("%s: a ByteLevel pre-tokenizer followed by others is not supported", where)
		}
		p := &byteLevelPre{useRegex: true}
		if c.AddPrefixSpace != nil {
			p.addPrefixSpace = *c.AddPrefixSpace
		}
		if c.UseRegex != nil {
			p.useRegex = *c.UseRegex
		}
		return p, true, nil
	case "Split":
		p := &splitPre{invert: c.Invert}
		b, ok := behaviorNames[c.Behavior]
		if !ok {
			return nil, false, fmt.Errorf("%s: Split behavior %q is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous", where, c.Behavior)
		}
		p.behavior = b
		switch {
		case c.Pattern != nil && c.Pattern.String != nil:
			p.match = literalMatches(*c.Pattern.String)
		case c.Pattern != nil && c.Pattern.Regex != nil:
			switch r := *c.Pattern.Regex; r {
			case gpt2Pattern:
				p.match, p.covering = gpt2Matches, true
			case llama3Pattern:
				p.match, p.covering = llama3Matches, true
			case qwen2Pattern:
				p.match, p.covering = qwen2Matches, true
			default:
				re, err := regexp.Compile(r)
				if err != nil {
					return nil, false, fmt.Errorf("%s: Split regex %q is not supported (hand-written splitters exist for the GPT-2, Llama-3 and Qwen2 patterns; Go's regexp says: %v)", where, r, err)
				}
				p.match = regexpMatches(re)
			}
		default:
			return nil, false, fmt.Errorf("%s: Split has no String or Regex pattern", where)
		}
		return p, false, nil
	case "Metaspace":
		p := &metaspacePre{replacement: c.Replacement, scheme: prependAlways, split_: true}
		if p.replacement == "" {
			p.replacement = "▁"
		}
		if c.Split != nil {
			p.split_ = *c.Split
		}
		var err error
		if p.scheme, err = prependScheme(c, where); err != nil {
			return nil, false, err
		}
		return p, false, nil
	case "Digits":
		return &digitsPre{individual: c.IndividualDigits}, false, nil
	case "WhitespaceSplit":
		return whitespaceSplitPre{}, false, nil
	}
	return nil, false, fmt.Errorf("%s: unsupported pre-tokenizer type %q (supported: ByteLevel, Split, Metaspace, Digits, WhitespaceSplit, Sequence)", where, c.Type)
}

// prependScheme reads Metaspace's prepend_scheme, or the older
// add_prefix_space flag.
func prependScheme(c *componentJSON, where string) (int, error) {
	switch c.PrependScheme {
	case "always":
		return prependAlways, nil
	case "first":
		return prependFirst, nil
	case "never":
		return prependNever, nil
	case "":
		if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
			return prependNever, nil
		}
		return prependAlways, nil
	}
	return 0, fmt.Errorf("%s: Metaspace prepend_scheme %q is not one of always, first, never", where, c.PrependScheme)
}

// parseDecoder compiles the decoder; byteLevel tells whether it holds a
// ByteLevel decoder.
func parseDecoder(dc *componentJSON) (decoderSpec, bool, error) {
	var d decoderSpec
	if dc == nil {
		d.joinSpace = true
		return d, false, nil
	}
	fused, byteLevel := false, false
	var walk func(c *componentJSON, where string) error
	walk = func(c *componentJSON, where string) error {
		if c == nil {
			return nil
		}
		switch c.Type {
		case "Sequence":
			for i, sub := range c.Decoders {
				if err := walk(sub, fmt.Sprintf("%s.decoders[%d]", where, i)); err != nil {
					return err
				}
			}
		case "Replace":
			if c.Pattern == nil || c.Pattern.String == nil {
				return fmt.Errorf("%s: only Replace decoders with a String pattern are supported", where)
			}
			d.steps = append(d.steps, decodeStep{kind: stepReplace, from: *c.Pattern.String, to: c.Content})
		case "ByteFallback":
			d.steps = append(d.steps, decodeStep{kind: stepByteFallback})
		case "ByteLevel":
			d.steps = append(d.steps, decodeStep{kind: stepByteLevel})
			byteLevel = true
		case "Fuse":
			fused = true
		case "Strip":
			if c.Start < 0 || c.Stop < 0 {
				return fmt.Errorf("%s: Strip start and stop must not be negative", where)
			}
			if utf8.RuneCountInString(c.Content) != 1 {
				return fmt.Errorf("%s: Strip content %q is not one character", where, c.Content)
			}
			if !fused {
				d.steps = append(d.steps, decodeStep{kind: stepStrip, from: c.Content, n: c.Start, stop: c.Stop})
				break
			}
			if c.Stop > 0 {
				return fmt.Errorf("%s: a Strip decoder with stop > 0 after Fuse is not supported", where)
			}
			r, _ := utf8.DecodeRuneInString(c.Content)
			if d.leadStrip > 0 && r != d.leadChar {
				return fmt.Errorf("%s: two Strip decoders with different content are not supported", where)
			}
			d.leadStrip += c.Start
			d.leadChar = r
		case "Metaspace":
			repl := c.Replacement
			if repl == "" {
				repl = "▁"
			}
			scheme, err := prependScheme(c, where)
			if err != nil {
				return err
			}
			d.steps = append(d.steps, decodeStep{kind: stepMetaspace, from: repl, dropHead: scheme != prependNever})
			d.firstDiff = d.firstDiff || scheme != prependNever
		default:
			return fmt.Errorf("%s: unsupported decoder type %q (supported: ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace, Sequence)", where, c.Type)
		}
		return nil
	}
	if err := walk(dc, "decoder"); err != nil {
		return d, false, err
	}
	return d, byteLevel, nil
}

// parsePostProcessor returns the special token ids added before and after a
// single sequence.
func parsePostProcessor(c *componentJSON, where string, vocab map[string]int) (prefix, suffix []int, err error) {
	if c == nil {
		return nil, nil, nil
	}
	switch c.Type {
	case "ByteLevel":
		return nil, nil, nil
	case "Sequence":
		for i, sub := range c.Processors {
			p, s, err := parsePostProcessor(sub, fmt.Sprintf("%s.processors[%d]", where, i), vocab)
			if err != nil {
				return nil, nil, err
			}
			prefix, suffix = append(prefix, p...), append(suffix, s...)
		}
		return prefix, suffix, nil
	case "TemplateProcessing":
		seen := false
		for i, item := range c.Single {
			if seq, ok := item["Sequence"]; ok {
				if seq.ID != "A" {
					return nil, nil, fmt.Errorf("%s: single[%d] names sequence %q, want A", where, i, seq.ID)
				}
				seen = true
				continue
			}
			st, ok := item["SpecialToken"]
			if !ok {
				return nil, nil, fmt.Errorf("%s: single[%d] is neither a Sequence nor a SpecialToken", where, i)
			}
			var ids []int
			if s, ok := c.SpecialTokens[st.ID]; ok && len(s.IDs) > 0 {
				ids = s.IDs
			} else if id, ok := vocab[st.ID]; ok {
				ids = []int{id}
			} else {
				return nil, nil, fmt.Errorf("%s: special token %q of single[%d] is not in the vocab", where, st.ID, i)
			}
			if seen {
				suffix = append(suffix, ids...)
			} else {
				prefix = append(prefix, ids...)
			}
		}
		return prefix, suffix, nil
	case "RobertaProcessing", "BertProcessing":
		cls, err := processorToken(c.Cls, where+".cls", vocab)
		if err != nil {
			return nil, nil, err
		}
		sep, err := processorToken(c.Sep, where+".sep", vocab)
		if err != nil {
			return nil, nil, err
		}
		return []int{cls}, []int{sep}, nil
	}
	return nil, nil, fmt.Errorf("%s: unsupported post-processor type %q (supported: TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence)", where, c.Type)
}

// processorToken reads a ["<s>", 0] pair.
func processorToken(pair []json.RawMessage, where string, vocab map[string]int) (int, error) {
	var tok string
	var id int
	if len(pair) != 2 || json.Unmarshal(pair[0], &tok) != nil || json.Unmarshal(pair[1], &id) != nil {
		return 0, fmt.Errorf("%s: want [token, id]", where)
	}
	if got, ok := vocab[tok]; ok {
		return got, nil
	}
	return id, nil
}

// buildBPE builds the BPE model from the model section.
func buildBPE(mj *modelJSON, byteLevel bool) (*bpeModel, error) {
	m := &bpeModel{
		vocab:        mj.Vocab,
		byteLevel:    byteLevel,
		byteFallback: mj.ByteFallback,
		fuseUnk:      mj.FuseUnk,
		ignoreMerges: mj.IgnoreMerges,
		unkID:        -1,
		charID:       map[rune]int32{},
		cache:        map[string][]int{},
	}
	if mj.ContinuingSubwordPrefix != nil {
		m.contPrefix = *mj.ContinuingSubwordPrefix
	}
	if mj.EndOfWordSuffix != nil {
		m.endSuffix = *mj.EndOfWordSuffix
	}
	if mj.UnkToken != nil {
		id, ok := mj.Vocab[*mj.UnkToken]
		if !ok {
			return nil, fmt.Errorf("model.unk_token %q is not in the vocab", *mj.UnkToken)
		}
		m.unkID = int32(id)
	}
	for i := range m.asciiID {
		m.asciiID[i] = -1
	}
	for i := range m.byteFallbackID {
		m.byteFallbackID[i] = -1
		m.byteCharID[i] = -1
	}
	for tok, id := range mj.Vocab {
		if r, size := utf8.DecodeRuneInString(tok); size == len(tok) && !(r == utf8.RuneError && size <= 1) {
			if r < utf8.RuneSelf {
				m.asciiID[r] = int32(id)
			} else {
				m.charID[r] = int32(id)
			}
		}
		if b, ok := parseByteToken(tok); ok && tok == fmt.Sprintf("<0x%02X>", b) {
			m.byteFallbackID[b] = int32(id)
		}
	}
	for b := range 256 {
		if id, ok := mj.Vocab[string(bytesToUnicode[b])]; ok {
			m.byteCharID[b] = int32(id)
		}
	}

	pairs, err := parseMerges(mj.Merges)
	if err != nil {
		return nil, err
	}
	m.mergeList = make([][2]string, 0, len(pairs))
	m.merges = make(map[uint64]uint64, len(pairs))
	for i, pair := range pairs {
		a, okA := mj.Vocab[pair[0]]
		b, okB := mj.Vocab[pair[1]]
		switch {
		case !okA:
			return nil, fmt.Errorf("model.merges[%d] %q: token %q is not in the vocab", i, pair[0]+" "+pair[1], pair[0])
		case !okB:
			return nil, fmt.Errorf("model.merges[%d] %q: token %q is not in the vocab", i, pair[0]+" "+pair[1], pair[1])
		}
		joined := pair[0] + strings.TrimPrefix(pair[1], m.contPrefix)
		n, ok := mj.Vocab[joined]
		if !ok {
			return nil, fmt.Errorf("model.merges[%d] %q: the merged token %q is not in the vocab", i, pair[0]+" "+pair[1], joined)
		}
		m.merges[pairKey(int32(a), int32(b))] = uint64(i)<<32 | uint64(uint32(n))
		m.mergeList = append(m.mergeList, pair)
	}
	return m, nil
}

// parseMerges reads model.merges: a list of "a b" strings (older files) or
// of ["a", "b"] pairs.
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var strs []string
	if json.Unmarshal(raw, &strs) == nil {
		pairs := make([][2]string, len(strs))
		for i, s := range strs {
			a, b, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(b, " ") || a == "" || b == "" {
				return nil, fmt.Errorf("model.merges[%d] %q is not two tokens separated by one space", i, s)
			}
			pairs[i] = [2]string{a, b}
		}
		return pairs, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("model.merges is %s, want a list", abbreviate(raw))
	}
	pairs := make([][2]string, len(list))
	for i, item := range list {
		var pair []string
		if err := json.Unmarshal(item, &pair); err != nil || len(pair) != 2 {
			var s string
			if json.Unmarshal(item, &s) == nil {
				// A list mixing both forms: read the string form.
				a, b, ok := strings.Cut(s, " ")
				if ok && !strings.Contains(b, " ") && a != "" && b != "" {
					pairs[i] = [2]string{a, b}
					continue
				}
				return nil, fmt.Errorf("model.merges[%d] %q is not two tokens separated by one space", i, s)
			}
			return nil, fmt.Errorf("model.merges[%d] is %s, want \"a b\" or [\"a\", \"b\"]", i, abbreviate(item))
		}
		pairs[i] = [2]string{pair[0], pair[1]}
	}
	return pairs, nil
}

func abbreviate(raw json.RawMessage) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// applyConfig reads tokenizer_config.json: special tokens, whether to add
// BOS/EOS, and the chat template.
func (t *Tokenizer) applyConfig(data []byte) error {
	if data == nil {
		return nil
	}
	var c configJSON
	if err := json.Unmarshal(data, &c); err != nil {
		return jsonError(data, 0, err)
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *int
	}{
		{"bos_token", c.BOS, &t.bos},
		{"eos_token", c.EOS, &t.eos},
		{"pad_token", c.PAD, &t.pad},
		{"unk_token", c.UNK, &t.unk},
	} {
		if f.raw == nil {
			continue // absent: keep what tokenizer.json told
		}
		s, err := tokenContent(f.raw)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		*f.dst = -1
		if id, ok := t.vocab[s]; ok && s != "" {
			*f.dst = id
		}
	}
	if c.AddBOS != nil {
		t.prefixIDs = nil
		if *c.AddBOS && t.bos >= 0 {
			t.prefixIDs = []int{t.bos}
		}
	}
	if c.AddEOS != nil {
		t.suffixIDs = nil
		if *c.AddEOS && t.eos >= 0 {
			t.suffixIDs = []int{t.eos}
		}
	}
	tmpl, err := chatTemplate(c.ChatTemplate)
	if err != nil {
		return fmt.Errorf("chat_template: %w", err)
	}
	t.chatTemplate = tmpl
	return nil
}

// tokenContent reads a special token written as a string, as
// {"content": ...} or as null.
func tokenContent(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Content != nil {
		return *obj.Content, nil
	}
	return "", fmt.Errorf("is %s, want a string or {\"content\": ...}", abbreviate(raw))
}

// chatTemplate reads chat_template: a string, or a list of {name, template}
// of which the "default" one is kept (the first when none is so named).
func chatTemplate(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var list []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", fmt.Errorf("is %s, want a string or a list of {\"name\", \"template\"}", abbreviate(raw))
	}
	for _, e := range list {
		if e.Name == "default" {
			return e.Template, nil
		}
	}
	if len(list) > 0 {
		return list[0].Template, nil
	}
	return "", nil
}
