package data

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// numbered returns n examples; example i has i%4+1 positions with ids
// 100*i+j and labels 1000+100*i+j (every other one ignored).
func numbered(n int) []Example {
	exs := make([]Example, n)
	for i := range exs {
		l := i%4 + 1
		exs[i] = Example{IDs: make([]int32, l), Labels: make([]int32, l), Line: i + 1}
		for j := range l {
			exs[i].IDs[j] = int32(100*i + j)
			exs[i].Labels[j] = int32(1000 + 100*i + j)
			if j%2 == 1 {
				exs[i].Labels[j] = IgnoreIndex
			}
		}
	}
	return exs
}

func TestBatcherFill(t *testing.T) {
	exs := numbered(3)
	b, err := NewBatcher(exs, BatcherOptions{BatchSize: 2, SeqLen: 4, PadID: 7})
	if err != nil {
		t.Fatal(err)
	}
	in, tg := make([]int32, 8), make([]int32, 8)
	info, err := b.Next(in, tg)
	if err != nil {
		t.Fatal(err)
	}
	wantIn := []int32{0, 7, 7, 7, 100, 101, 7, 7}
	wantTg := []int32{1000, -100, -100, -100, 1100, -100, -100, -100}
	if !slices.Equal(in, wantIn) || !slices.Equal(tg, wantTg) {
		t.Errorf("batch 1:\n inputs %v\n want   %v\n targets %v\n want    %v", in, wantIn, tg, wantTg)
	}
	if info != (Batch{Epoch: 0, Index: 0, Rows: 2, Tokens: 3, Scored: 2}) {
		t.Errorf("info %+v", info)
	}
	info, err = b.Next(in, tg)
	if err != nil {
		t.Fatal(err)
	}
	wantIn = []int32{200, 201, 202, 7, 7, 7, 7, 7} // the second row is all padding
	wantTg = []int32{1200, -100, 1202, -100, -100, -100, -100, -100}
	if !slices.Equal(in, wantIn) || !slices.Equal(tg, wantTg) {
		t.Errorf("batch 2:\n inputs %v\n want   %v\n targets %v\n want    %v", in, wantIn, tg, wantTg)
	}
	if info != (Batch{Epoch: 0, Index: 2, Rows: 1, Tokens: 3, Scored: 2, EpochEnd: true}) {
		t.Errorf("info %+v", info)
	}
	if b.Position() != (Position{Epoch: 1}) || b.BatchesPerEpoch() != 2 {
		t.Errorf("position %+v, %d batches per epoch", b.Position(), b.BatchesPerEpoch())
	}
}

// epochs returns the example order of the given number of epochs as seen
// through the batches (by each row's first input).
func epochs(t *testing.T, b *Batcher, n int) [][]int32 {
	t.Helper()
	bs, T := b.opt.BatchSize, b.opt.SeqLen
	in, tg := make([]int32, bs*T), make([]int32, bs*T)
	var out [][]int32
	var cur []int32
	for len(out) < n {
		info, err := b.Next(in, tg)
		if err != nil {
			t.Fatal(err)
		}
		for r := range info.Rows {
			cur = append(cur, in[r*T]/100)
		}
		if info.EpochEnd {
			out = append(out, cur)
			cur = nil
		}
	}
	return out
}

func TestBatcherShuffle(t *testing.T) {
	exs := numbered(10)
	opt := BatcherOptions{BatchSize: 3, SeqLen: 4, Shuffle: true, Seed: 42}
	b1, _ := NewBatcher(exs, opt)
	b2, _ := NewBatcher(exs, opt)
	e1, e2 := epochs(t, b1, 3), epochs(t, b2, 3)
	if fmt.Sprint(e1) != fmt.Sprint(e2) {
		t.Errorf("same seed, different orders:\n%v\n%v", e1, e2)
	}
	for k, e := range e1 {
		sorted := slices.Clone(e)
		slices.Sort(sorted)
		if fmt.Sprint(sorted) != "[0 1 2 3 4 5 6 7 8 9]" {
			t.Errorf("epoch %d order %v is not a permutation", k, e)
		}
	}
	if fmt.Sprint(e1[0]) == fmt.Sprint(e1[1]) {
		t.Errorf("epochs 0 and 1 have the same order %v", e1[0])
	}
	opt.Seed = 43
	b3, _ := NewBatcher(exs, opt)
	if fmt.Sprint(epochs(t, b3, 1)[0]) == fmt.Sprint(e1[0]) {
		t.Error("seeds 42 and 43 give the same order")
	}
	opt.Shuffle = false
	b4, _ := NewBatcher(exs, opt)
	if got := fmt.Sprint(epochs(t, b4, 2)); got != "[[0 1 2 3 4 5 6 7 8 9] [0 1 2 3 4 5 6 7 8 9]]" {
		t.Errorf("unshuffled order %s", got)
	}
}

// TestShuffleStable checks the permutation a seed gives against a second
// implementation, so that a change of algorithm (which would break resuming
// old checkpoints) is noticed.
func TestShuffleStable(t *testing.T) {
	p := Permutation(10, 1, 0)
	q := Permutation(10, 1, 0)
	if !slices.Equal(p, q) {
		t.Fatalf("same seed: %v and %v", p, q)
	}
	// Fisher-Yates over PCG(1, 0), drawn with Lemire's bounded method
	want := referencePermutation(10, 1, 0)
	if !slices.Equal(p, want) {
		t.Errorf("Permutation(10, 1, 0) = %v, want %v", p, want)
	}
}

// referencePermutation is an independent, simpler implementation: draw
// j = floor(u * (i+1) / 2^64) with rejection of the biased low products.
func referencePermutation(n int, seed, stream uint64) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	src := rand.NewPCG(seed, stream).Uint64
	for i := n - 1; i > 0; i-- {
		m := uint64(i + 1)
		limit := (^uint64(0) - m + 1) % m // 2^64 mod m
		var j uint64
		for {
			hi, lo := bits.Mul64(src(), m)
			if lo >= limit {
				j = hi
				break
			}
		}
		p[i], p[j] = p[j], p[i]
	}
	return p
}

func TestBatcherResume(t *testing.T) {
	exs := numbered(11)
	opt := BatcherOptions{BatchSize: 4, SeqLen: 4, Shuffle: true, Seed: 9, PadID: 0}
	run := func(b *Batcher, n int) string {
		in, tg := make([]int32, 16), make([]int32, 16)
		var s strings.Builder
		for range n {
			info, err := b.Next(in, tg)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&s, info, in, tg)
		}
		return s.String()
	}
	for _, skip := range []int{0, 1, 2, 3, 5, 7} {
		b, _ := NewBatcher(exs, opt)
		run(b, skip)
		saved, err := json.Marshal(b.Position())
		if err != nil {
			t.Fatal(err)
		}
		want := run(b, 8)

		var pos Position
		if err := json.Unmarshal(saved, &pos); err != nil {
			t.Fatal(err)
		}
		resumed, _ := NewBatcher(exs, opt)
		if err := resumed.SetPosition(pos); err != nil {
			t.Fatal(err)
		}
		if got := run(resumed, 8); got != want {
			t.Errorf("resumed after %d batches at %s:\n%s\nwant\n%s", skip, saved, got, want)
		}
	}
}

func TestBatcherDropLast(t *testing.T) {
	exs := numbered(10)
	b, err := NewBatcher(exs, BatcherOptions{BatchSize: 4, SeqLen: 4, DropLast: true})
	if err != nil {
		t.Fatal(err)
	}
	if b.BatchesPerEpoch() != 2 {
		t.Errorf("%d batches per epoch, want 2", b.BatchesPerEpoch())
	}
	in, tg := make([]int32, 16), make([]int32, 16)
	var ends []bool
	for range 4 {
		info, err := b.Next(in, tg)
		if err != nil {
			t.Fatal(err)
		}
		if info.Rows != 4 {
			t.Errorf("partial batch %+v", info)
		}
		ends = append(ends, info.EpochEnd)
	}
	if fmt.Sprint(ends) != "[false true false true]" {
		t.Errorf("epoch ends %v", ends)
	}
	if err := b.SetPosition(Position{Epoch: 0, Index: 8}); err == nil {
		t.Error("position inside the dropped tail: no error")
	}
}

func TestBatcherErrors(t *testing.T) {
	exs := numbered(4)
	if _, err := NewBatcher(exs, BatcherOptions{BatchSize: 2, SeqLen: 3}); err == nil || !strings.Contains(err.Error(), "more than the seq-len 3") {
		t.Errorf("long example: %v", err)
	}
	if _, err := NewBatcher(nil, BatcherOptions{BatchSize: 2, SeqLen: 3}); err == nil {
		t.Error("no examples: no error")
	}
	if _, err := NewBatcher(exs, BatcherOptions{BatchSize: 0, SeqLen: 4}); err == nil {
		t.Error("batch size 0: no error")
	}
	if _, err := NewBatcher(exs, BatcherOptions{BatchSize: 8, SeqLen: 4, DropLast: true}); err == nil {
		t.Error("fewer examples than a dropped batch: no error")
	}
	b, _ := NewBatcher(exs, BatcherOptions{BatchSize: 2, SeqLen: 4})
	if _, err := b.Next(make([]int32, 7), make([]int32, 8)); err == nil {
		t.Error("short buffer: no error")
	}
	for _, p := range []Position{{-1, 0}, {0, 4}, {0, -1}} {
		if err := b.SetPosition(p); err == nil {
			t.Errorf("position %+v: no error", p)
		}
	}
	if PadID(newFakeTok()) != 1 {
		t.Error("PadID is not EOS")
	}
	noEOS := newFakeTok()
	noEOS.eos = -1
	if PadID(noEOS) != 0 {
		t.Error("PadID without EOS is not 0")
	}
}
