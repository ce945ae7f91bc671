package data

import "fmt"

// seq is a tokenized record (or a packed row or an LM window) before the
// shift into IDs and Labels.
type seq struct {
	ids     []int
	scored  []bool
	text    string
	source  string
	line    int
	records int
}

func seqOf(enc *Encoded, rec *Record) seq {
	return seq{ids: enc.IDs, scored: enc.Scored, text: enc.Text(), source: rec.Source, line: rec.Line, records: 1}
}

// fit checks that the sequence can be trained on within seqLen positions
// (0: no limit), cutting it to seqLen+1 tokens when truncate is set.
func (s seq) fit(seqLen int, truncate bool) (out seq, truncated bool, err error) {
	if len(s.ids) < 2 {
		return s, false, fmt.Errorf("too short to train on: %d token", len(s.ids))
	}
	if seqLen > 0 && len(s.ids) > seqLen+1 {
		if !truncate {
			return s, false, fmt.Errorf("%d tokens, longer than a row of seq-len %d holds (%d tokens); turn truncation on or raise the seq-len",
				len(s.ids), seqLen, seqLen+1)
		}
		s.ids, s.scored, truncated = s.ids[:seqLen+1], s.scored[:seqLen+1], true
	}
	for _, sc := range s.scored[1:] {
		if sc {
			return s, truncated, nil
		}
	}
	if truncated {
		return s, true, fmt.Errorf("no response tokens within seq-len %d: the prompt alone fills the row", seqLen)
	}
	return s, false, fmt.Errorf("no scored tokens")
}

// example shifts a sequence of at most seqLen+1 tokens into an Example.
func (s seq) example() Example {
	n := len(s.ids) - 1
	ex := Example{IDs: make([]int32, n), Labels: make([]int32, n), Text: s.text, Source: s.source,
		Line: s.line, Records: s.records}
	for i := range n {
		ex.IDs[i] = int32(s.ids[i])
		ex.Labels[i] = IgnoreIndex
		if s.scored[i+1] {
			ex.Labels[i] = int32(s.ids[i+1])
		}
	}
	return ex
}

// pack fills rows of up to seqLen+1 tokens with whole sequences in order
// (greedy: a sequence that does not fit closes the row). Sequences are
// separated by EOS (eos >= 0): one that does not already end with EOS gets
// an unscored EOS after it when another follows in the row. The first token
// of each packed sequence is not scored, since it cannot be predicted from
// the sequence before it. Every sequence must already fit in a row.
func pack(seqs []seq, seqLen, eos int) []seq {
	capacity := seqLen + 1
	var rows []seq
	var row seq
	flush := func() {
		if len(row.ids) >= 2 {
			rows = append(rows, row)
		}
		row = seq{}
	}
	for _, s := range seqs {
		sep := len(row.ids) > 0 && eos >= 0 && row.ids[len(row.ids)-1] != eos
		need := len(s.ids)
		if sep {
			need++
		}
		if len(row.ids) > 0 && len(row.ids)+need > capacity {
			flush()
			sep = false
		}
		if len(row.ids) == 0 {
			row = seq{source: s.source, line: s.line}
		} else if sep {
			row.ids = append(row.ids, eos)
			row.scored = append(row.scored, false)
		}
		row.ids = append(row.ids, s.ids...)
		row.scored = append(row.scored, s.scored...)
		row.scored[len(row.scored)-len(s.scored)] = false
		row.text += s.text
		row.records++
	}
	flush()
	return rows
}

// windows concatenates documents and cuts the stream into non-overlapping
// windows of seqLen+1 tokens; the last, shorter window is kept when it has
// at least two tokens. Each window's line is that of the document it starts
// in, and its record count the number of documents it overlaps.
func windows(docs []seq, seqLen int) []seq {
	var ids []int
	var scored []bool
	starts := make([]int, len(docs))
	for i, d := range docs {
		starts[i] = len(ids)
		ids = append(ids, d.ids...)
		scored = append(scored, d.scored...)
	}
	w := seqLen + 1
	var out []seq
	doc := 0
	for off := 0; off+2 <= len(ids); off += w {
		end := min(off+w, len(ids))
		for doc+1 < len(docs) && starts[doc+1] <= off {
			doc++
		}
		n := 1 // documents the window overlaps
		for k := doc + 1; k < len(docs) && starts[k] < end; k++ {
			n++
		}
		out = append(out, seq{ids: ids[off:end], scored: scored[off:end], source: docs[doc].source,
			line: docs[doc].line, records: n})
	}
	return out
}
