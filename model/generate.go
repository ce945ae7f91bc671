package model

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// SampleOptions control generation. Temperature 0 is greedy decoding.
type SampleOptions struct {
	MaxTokens   int     // new tokens at most (0: until EOS or the context is full)
	Temperature float64 // 0: greedy
	TopK        int     // 0: no top-k filter
	TopP        float64 // 0 or 1: no nucleus filter
	Seed        uint64
	StopAtEOS   bool
}

// Generate continues prompt (token ids) and calls emit with each new token as
// it is produced; emit returning false stops generation. It returns the new
// tokens. Generation stops at EOS (when opt.StopAtEOS), at opt.MaxTokens, at
// the model's context length, or when ctx is cancelled.
func (m *Model) Generate(ctx context.Context, prompt []int, opt SampleOptions, emit func(id int) bool) ([]int, error) {
	c := m.Config
	if len(prompt) == 0 {
		return nil, fmt.Errorf("generate: the prompt is empty (no tokens)")
	}
	if len(prompt) >= c.MaxPos {
		return nil, fmt.Errorf("generate: the prompt has %d tokens; the model's context is %d", len(prompt), c.MaxPos)
	}
	for _, id := range prompt {
		if id < 0 || id >= c.Vocab {
			return nil, fmt.Errorf("generate: token id %d outside the vocabulary (%d)", id, c.Vocab)
		}
	}
	max := c.MaxPos
	if opt.MaxTokens > 0 && len(prompt)+opt.MaxTokens < max {
		max = len(prompt) + opt.MaxTokens
	}
	cache := m.NewKVCache(max)
	pre := m.NewActs(1, len(prompt), false)
	one := m.NewActs(1, 1, false)
	logits := m.Be.NewTensor(1, c.Vocab)
	host := make([]float32, c.Vocab)
	s := newSampler(opt, c.Vocab)
	eos := map[int]bool{}
	for _, e := range c.EOS {
		eos[e] = true
	}
	if m.Tok != nil && m.Tok.EOS() >= 0 {
		eos[m.Tok.EOS()] = true
	}

	ids := make([]int32, len(prompt))
	for i, id := range prompt {
		ids[i] = int32(id)
	}
	m.Forward(pre, ids, cache)
	m.Logits(logits, pre.Final.RowView(len(prompt)-1, 1))
	var out []int
	for {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		m.Be.Download(host, logits)
		next := s.sample(host)
		if opt.StopAtEOS && eos[next] {
			return out, nil
		}
		out = append(out, next)
		// Stop after MaxTokens, or when the cache is full (the last
		// token is predicted from the last position, not fed back).
		if !emit(next) || (opt.MaxTokens > 0 && len(out) >= opt.MaxTokens) || cache.Len >= max {
			return out, nil
		}
		m.Forward(one, []int32{int32(next)}, cache)
		m.Logits(logits, one.Final)
	}
}

// sampler picks the next token from logits.
type sampler struct {
	opt  SampleOptions
	rng  *rand.Rand
	idx  []int
	prob []float64
}

func newSampler(opt SampleOptions, vocab int) *sampler {
	return &sampler{opt: opt, rng: rand.New(rand.NewPCG(opt.Seed, 0x9e3779b97f4a7c15)),
		idx: make([]int, vocab), prob: make([]float64, vocab)}
}

// Argmax returns the index of the largest value (the first one on ties, as
// torch.argmax does).
func Argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func (s *sampler) sample(logits []float32) int {
	if s.opt.Temperature <= 0 {
		return Argmax(logits)
	}
	// Softmax at the temperature, in float64.
	mx := float64(logits[Argmax(logits)])
	var sum float64
	for i, l := range logits {
		p := math.Exp((float64(l) - mx) / s.opt.Temperature)
		s.prob[i] = p
		sum += p
		s.idx[i] = i
	}
	idx := s.idx
	sort.Slice(idx, func(a, b int) bool { return s.prob[idx[a]] > s.prob[idx[b]] })
	n := len(idx)
	if k := s.opt.TopK; k > 0 && k < n {
		n = k
	}
	if p := s.opt.TopP; p > 0 && p < 1 {
		var cum float64
		for i := 0; i < n; i++ {
			cum += s.prob[idx[i]] / sum
			if cum >= p {
				n = i + 1
				break
			}
		}
	}
	var kept float64
	for _, i := range idx[:n] {
		kept += s.prob[i]
	}
	r := s.rng.Float64() * kept
	for _, i := range idx[:n] {
		r -= s.prob[i]
		if r <= 0 {
			return i
		}
	}
	return idx[n-1]
}
