package cpu

import (
	"fmt"
	"math"
	"testing"
)

// TestFlashNoAllocations checks that the LSE attention operations do not
// allocate once the backend has seen their shapes.
func TestFlashNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items at random)")
	}
	b := New(WithThreads(2))
	s := newStep(b, 2, 100, 4, 2, 32, 1)
	lse := b.NewTensor(s.batch, s.h, s.seq)
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"AttentionLSE", func() {
			b.AttentionLSE(s.att, lse, s.q, s.k, s.v, s.batch, s.seq, s.seq, s.h, s.kvh, s.hd)
		}},
		{"AttentionBackwardLSE", func() {
			b.AttentionBackwardLSE(s.dq, s.dk, s.dv, s.datt, s.att, lse, s.q, s.k, s.v, s.batch, s.seq, s.seq, s.h, s.kvh, s.hd)
		}},
	} {
		c.f() // first call grows the scratch buffers
		if n := testing.AllocsPerRun(20, c.f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", c.name, n)
		}
	}
}

// TestFlashThreadCountsAgree checks that the LSE operations give the same
// bits for any thread count.
func TestFlashThreadCountsAgree(t *testing.T) {
	run := func(threads int) [][]float32 {
		s := newStep(New(WithThreads(threads)), 2, 100, 4, 2, 16, 1)
		lse := s.b.NewTensor(s.batch, s.h, s.seq)
		s.b.AttentionLSE(s.att, lse, s.q, s.k, s.v, s.batch, s.seq, s.seq, s.h, s.kvh, s.hd)
		s.b.AttentionBackwardLSE(s.dq, s.dk, s.dv, s.datt, s.att, lse, s.q, s.k, s.v, s.batch, s.seq, s.seq, s.h, s.kvh, s.hd)
		return [][]float32{s.att.Data, lse.Data, s.dq.Data, s.dk.Data, s.dv.Data}
	}
	one, many := run(1), run(3)
	names := []string{"out", "lse", "dq", "dk", "dv"}
	for i := range one {
		for j := range one[i] {
			if math.Float32bits(one[i][j]) != math.Float32bits(many[i][j]) {
				t.Fatalf("%s differs at %d: 1 thread %v, 3 threads %v", names[i], j, one[i][j], many[i][j])
			}
		}
	}
}

// BenchmarkFlashAttention times the LSE operations on GPT-2 small's
// attention shape (12 heads of 64) for one sequence of each length; compare
// with BenchmarkAttention, which keeps the probabilities.
func BenchmarkFlashAttention(b *testing.B) {
	for _, seq := range []int{512, 2048} {
		for _, bwd := range []bool{false, true} {
			name := "forward"
			if bwd {
				name = "backward"
			}
			b.Run(fmt.Sprintf("%s/T=%d", name, seq), func(b *testing.B) {
				s := newStep(New(), 1, seq, 12, 12, 64, 1)
				lse := s.b.NewTensor(s.batch, s.h, s.seq)
				s.b.AttentionLSE(s.att, lse, s.q, s.k, s.v, s.batch, s.seq, s.seq, s.h, s.kvh, s.hd)
				// causal attention: QKᵀ and PV over the lower triangle;
				// the backward pass recomputes QKᵀ and does four products.
				flops := 2 * 2 * float64(s.batch*s.h*s.seq*(s.seq+1)/2*s.hd)
				if bwd {
					flops *= 2.5
				}
				b.ResetTimer()
				for range b.N {
					if bwd {
						s.b.AttentionBackwardLSE(s.dq, s.dk, s.dv, s.datt, s.att, lse, s.q, s.k, s.v, s.batch, s.seq, s.seq, s.h, s.kvh, s.hd)
					} else {
						s.b.AttentionLSE(s.att, lse, s.q, s.k, s.v, s.batch, s.seq, s.seq, s.h, s.kvh, s.hd)
					}
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
