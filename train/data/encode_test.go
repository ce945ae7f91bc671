package data

import (
	"slices"
	"strings"
	"testing"
)

// scoredText joins the token strings of the scored labels.
func scoredText(tok Tokenizer, ex Example) string {
	var b strings.Builder
	for _, l := range ex.Labels {
		if l != IgnoreIndex {
			b.WriteString(tok.TokenString(int(l)))
		}
	}
	return b.String()
}

func TestExampleShift(t *testing.T) {
	tok := newFakeTok()
	tok.addsBOS = true
	segs, err := RenderRecord(nil, &Record{Kind: KindText, Text: "ab"}, SpecialsOf(tok))
	if err != nil {
		t.Fatal(err)
	}
	ex, truncated, err := NewEncoder(tok).Encode(segs).Example(0, false)
	if err != nil || truncated {
		t.Fatal(err, truncated)
	}
	a, b := int32(tok.byteID('a')), int32(tok.byteID('b'))
	if want := []int32{0, a, b}; !slices.Equal(ex.IDs, want) {
		t.Errorf("IDs = %v, want %v", ex.IDs, want)
	}
	if want := []int32{a, b, 1}; !slices.Equal(ex.Labels, want) {
		t.Errorf("Labels = %v, want %v (BOS a b EOS shifted)", ex.Labels, want)
	}
	if ex.Text != "<s>ab</s>" || ex.Scored() != 3 {
		t.Errorf("text %q scored %d", ex.Text, ex.Scored())
	}
}

func TestEncodeMasking(t *testing.T) {
	qwen15 := loadTemplate(t, "qwen1.5")
	chat := &Record{Kind: KindChat, Messages: []Message{{RoleSystem, "Be brief."}, {RoleUser, "Name a colour."},
		{RoleAssistant, "Blue."}, {RoleUser, "Another?"}, {RoleAssistant, "Red."}}}
	alpacaRec := &Record{Kind: KindAlpaca, Instruction: "Translate.", Input: "hola", Output: "hello"}
	noIMEnd := newFakeTok()
	noIMEnd.specials = []string{"<s>", "</s>"}
	withBOS := newFakeTok()
	withBOS.addsBOS = true
	tests := []struct {
		name     string
		tok      *fakeTok
		template Template
		rec      *Record
		scored   string
		segments string // scored segment text when it differs from scored
	}{
		{"chatml with <|im_end|> token", newFakeTok(), chatML{}, chat, "Blue.<|im_end|>Red.<|im_end|>", ""},
		{"chatml without <|im_end|> token", noIMEnd, chatML{}, chat, "Blue.<|im_end|></s>Red.<|im_end|></s>", ""},
		{"llama-3", newFakeTok(), llama3{}, chat, "Blue.<|eot_id|>Red.<|eot_id|>", ""},
		{"llama-2", newFakeTok(), llama2{}, chat, " Blue. </s> Red. </s>", ""},
		{"alpaca", newFakeTok(), alpaca{}, alpacaRec, "hello</s>", ""},
		{"plain chat", newFakeTok(), alpaca{plain: true}, chat, "Blue.</s>Red.</s>", ""},
		{"none", newFakeTok(), raw{}, &Record{Kind: KindPromptCompletion, Prompt: "1+1=", Completion: "2"}, "2</s>", ""},
		{"jinja without end of last turn", newFakeTok(), qwen15, chat, "Blue.<|im_end|>Red.</s>", ""},
		{"text", withBOS, nil, &Record{Kind: KindText, Text: "all of it"}, "all of it</s>", ""},
		{"text without BOS", newFakeTok(), nil, &Record{Kind: KindText, Text: "all of it"}, "ll of it</s>", "all of it</s>"}, // the first token is no target
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segs, err := RenderRecord(tt.template, tt.rec, SpecialsOf(tt.tok))
			if err != nil {
				t.Fatal(err)
			}
			enc := NewEncoder(tt.tok).Encode(segs)
			ex, _, err := enc.Example(0, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := scoredText(tt.tok, ex); got != tt.scored {
				t.Errorf("scored = %q, want %q", got, tt.scored)
			}
			// the preview segments tell the same story as the labels
			var segScored strings.Builder
			for _, s := range enc.Segments {
				if s.Scored {
					segScored.WriteString(s.Text)
				}
			}
			wantSegs := tt.scored
			if tt.segments != "" {
				wantSegs = tt.segments
			}
			if segScored.String() != wantSegs {
				t.Errorf("scored segments = %q, want %q", segScored.String(), wantSegs)
			}
			if decode(tt.tok, enc.IDs) != enc.Text() {
				t.Errorf("tokens decode to %q, segments say %q", decode(tt.tok, enc.IDs), enc.Text())
			}
			n := 0
			for _, c := range enc.SegmentTokens {
				n += c
			}
			if n != len(enc.IDs) {
				t.Errorf("segment token counts sum to %d, want %d", n, len(enc.IDs))
			}
		})
	}
}

// TestEncodeBoundary: the whole text is tokenized once when every boundary
// falls between tokens; otherwise segments are tokenized one by one.
func TestEncodeBoundary(t *testing.T) {
	segs := []Segment{{Text: "Q:\nAB"}, {Text: "CD.", Scored: true, EndOfTurn: true}}
	tests := []struct {
		name   string
		merges [][2]string
		dummy  bool
		split  bool
	}{
		{"no merges", nil, false, false},
		{"merges inside segments", [][2]string{{"A", "B"}, {"C", "D"}}, false, false},
		{"merge across the boundary", [][2]string{{"B", "C"}}, false, true},
		{"dummy prefix", [][2]string{{" ", "Q"}}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := newFakeTok()
			tok.merges, tok.dummyPrefix = tt.merges, tt.dummy
			enc := NewEncoder(tok).Encode(segs)
			if enc.SplitTokenized != tt.split {
				t.Errorf("SplitTokenized = %v, want %v", enc.SplitTokenized, tt.split)
			}
			var want []int
			if tt.split {
				want = append(tok.Encode("Q:\nAB"), tok.Encode("CD.")...)
			} else {
				want = tok.Encode("Q:\nABCD.")
			}
			want = append(want, tok.EOS())
			if !slices.Equal(enc.IDs, want) {
				t.Errorf("ids = %v, want %v", enc.IDs, want)
			}
			ex, _, err := enc.Example(0, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := scoredText(tok, ex); got != "CD.</s>" {
				t.Errorf("scored %q, want %q", got, "CD.</s>")
			}
		})
	}
}

func TestExampleLimits(t *testing.T) {
	tok := newFakeTok()
	segs := []Segment{{Text: "prompt:"}, {Text: "answer", Scored: true}}
	enc := NewEncoder(tok).Encode(segs) // 13 tokens, no EOS (not end of turn)
	tests := []struct {
		seqLen   int
		truncate bool
		ids      int
		cut      bool
		err      string
	}{
		{0, false, 12, false, ""},
		{12, false, 12, false, ""},
		{11, false, 0, false, "13 tokens, longer than a row of seq-len 11 holds (12 tokens); turn truncation on"},
		{9, true, 9, true, ""},
		{6, true, 0, true, "no response tokens within seq-len 6"},
	}
	for _, tt := range tests {
		ex, cut, err := enc.Example(tt.seqLen, tt.truncate)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("seq-len %d: error = %v, want %q", tt.seqLen, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("seq-len %d: %v", tt.seqLen, err)
			continue
		}
		if len(ex.IDs) != tt.ids || cut != tt.cut {
			t.Errorf("seq-len %d: %d ids (cut %v), want %d (cut %v)", tt.seqLen, len(ex.IDs), cut, tt.ids, tt.cut)
		}
		if tt.seqLen == 9 && scoredText(tok, ex) != "ans" { // 10 tokens: "prompt:" + "ans"
			t.Errorf("truncated scored text %q, want %q", scoredText(tok, ex), "ans")
		}
	}
	one := NewEncoder(tok).Encode([]Segment{{Text: "x", Scored: true}})
	if _, _, err := one.Example(8, false); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("one token: error = %v", err)
	}
}
