package data

import "slices"

// Encoder tokenizes rendered segments and marks the scored tokens.
type Encoder struct {
	tok     Tokenizer
	eos     int
	eosText string
	stops   map[int]bool
}

// NewEncoder returns an encoder for tok. Its stop tokens are EOS and every
// EndOfTurnMarkers entry that tok encodes as a single token.
func NewEncoder(tok Tokenizer) *Encoder {
	e := &Encoder{tok: tok, eos: tok.EOS(), stops: map[int]bool{}}
	if e.eos >= 0 {
		e.stops[e.eos] = true
		e.eosText = tok.TokenString(e.eos)
	}
	for _, m := range EndOfTurnMarkers {
		if ids := tok.Encode(m); len(ids) == 1 {
			e.stops[ids[0]] = true
		}
	}
	return e
}

// Encoded is a tokenized example.
type Encoded struct {
	// IDs are all tokens of the example.
	IDs []int
	// Scored[i] says whether IDs[i] is a target.
	Scored []bool
	// Segments are the segments the tokens came from, with any EOS the
	// encoder appended at the end of a turn, adjacent segments of the same
	// kind merged.
	Segments []Segment
	// SegmentTokens[k] is the number of tokens of Segments[k].
	SegmentTokens []int
	// SplitTokenized says the segments were tokenized one by one because a
	// token crossed a prompt/response boundary when tokenized whole.
	SplitTokenized bool
}

// Encode tokenizes segments. Consecutive text segments are tokenized
// together and cut at the segment boundaries when every boundary falls
// between tokens (see the package documentation); otherwise each segment is
// tokenized alone. Token segments (BOS, EOS) are used as they are.
func (e *Encoder) Encode(segs []Segment) *Encoded {
	out := &Encoded{}
	for i := 0; i < len(segs); {
		if segs[i].Tokens != nil {
			e.emit(out, segs[i], segs[i].Tokens)
			i++
			continue
		}
		j := i
		for j < len(segs) && segs[j].Tokens == nil {
			j++
		}
		e.encodeRun(out, mergeSegments(segs[i:j]))
		i = j
	}
	return out
}

// mergeSegments joins adjacent text segments of the same kind (not across
// an end of turn) and drops empty ones.
func mergeSegments(segs []Segment) []Segment {
	var out []Segment
	for _, s := range segs {
		if s.Text == "" && !s.EndOfTurn {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Scored == s.Scored && !out[n-1].EndOfTurn {
			out[n-1].Text += s.Text
			out[n-1].EndOfTurn = s.EndOfTurn
			continue
		}
		out = append(out, s)
	}
	return out
}

func (e *Encoder) encodeRun(out *Encoded, groups []Segment) {
	if len(groups) == 0 {
		return
	}
	full := ""
	for _, g := range groups {
		full += g.Text
	}
	all := e.tok.Encode(full)
	cuts := make([]int, len(groups)+1)
	cuts[len(groups)] = len(all)
	joint := true
	off := 0
	for g := 0; g+1 < len(groups); g++ {
		off += len(groups[g].Text)
		p := e.tok.Encode(full[:off])
		if len(p) < cuts[g] || len(p) > len(all) || !slices.Equal(p, all[:len(p)]) {
			joint = false
			break
		}
		cuts[g+1] = len(p)
	}
	if !joint {
		out.SplitTokenized = true
	}
	for g, seg := range groups {
		var ids []int
		if joint {
			ids = all[cuts[g]:cuts[g+1]]
		} else {
			ids = e.tok.Encode(seg.Text)
		}
		e.emit(out, seg, ids)
	}
}

func (e *Encoder) emit(out *Encoded, seg Segment, ids []int) {
	out.IDs = append(out.IDs, ids...)
	for range ids {
		out.Scored = append(out.Scored, seg.Scored)
	}
	e.addSegment(out, seg, len(ids))
	if !seg.EndOfTurn || e.eos < 0 {
		return
	}
	n := len(out.IDs)
	if n > 0 && out.Scored[n-1] && e.stops[out.IDs[n-1]] {
		return
	}
	out.IDs = append(out.IDs, e.eos)
	out.Scored = append(out.Scored, true)
	e.addSegment(out, Segment{Text: e.eosText, Tokens: []int{e.eos}, Scored: true}, 1)
}

func (e *Encoder) addSegment(out *Encoded, seg Segment, ntok int) {
	seg.Tokens = nil
	seg.EndOfTurn = false
	if k := len(out.Segments); k > 0 && out.Segments[k-1].Scored == seg.Scored {
		out.Segments[k-1].Text += seg.Text
		out.SegmentTokens[k-1] += ntok
		return
	}
	out.Segments = append(out.Segments, seg)
	out.SegmentTokens = append(out.SegmentTokens, ntok)
}

// Text returns the concatenated text of the segments.
func (enc *Encoded) Text() string {
	s := ""
	for _, g := range enc.Segments {
		s += g.Text
	}
	return s
}

// Example builds the shifted example from the tokens. seqLen is the row
// length (positions; a row holds seqLen+1 tokens); 0 means no limit. A
// longer example is cut to seqLen+1 tokens when truncate is set (truncated
// is then true), else it is an error. An example without any scored target
// (within the limit) is an error.
func (enc *Encoded) Example(seqLen int, truncate bool) (ex Example, truncated bool, err error) {
	s := seq{ids: enc.IDs, scored: enc.Scored, text: enc.Text(), records: 1}
	s, truncated, err = s.fit(seqLen, truncate)
	if err != nil {
		return Example{}, truncated, err
	}
	return s.example(), truncated, nil
}
