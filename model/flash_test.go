package model_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/model"
)

// noFlash hides a backend's compute.FlashAttention, so that the model takes
// the path that keeps the attention probabilities.
type noFlash struct{ compute.Backend }

// TestFlashAttentionPath checks that training through the backend's
// FlashAttention (per-layer log-sum-exp kept) gives the same activations and
// gradients of every weight as the path that keeps the [B, H, T, T]
// probabilities, and that each path keeps only its own buffer.
func TestFlashAttentionPath(t *testing.T) {
	if _, ok := compute.Backend(cpu.New()).(compute.FlashAttention); !ok {
		t.Fatal("the cpu backend no longer implements compute.FlashAttention")
	}
	const B, T = 2, 70 // more than one block of query rows
	c := model.GPT2Config(2, 64, 4, 97)
	rng := rand.New(rand.NewPCG(7, 8))
	ids := make([]int32, B*T)
	for i := range ids {
		ids[i] = int32(rng.IntN(c.Vocab))
	}
	dFinal := make([]float32, B*T*c.Dim)
	for i := range dFinal {
		dFinal[i] = float32(rng.NormFloat64())
	}

	type result struct {
		final []float32
		grads [][]float32
		names []string
	}
	run := func(be compute.Backend, wantLSE bool) result {
		m, err := model.NewRandom(c, be, 1)
		if err != nil {
			t.Fatal(err)
		}
		params := m.EnableFullTraining()
		a, g := m.NewActs(B, T, true), m.NewGrads(B, T, 0)
		for l, L := range a.Layers {
			if (L.LSE != nil) != wantLSE || (L.Probs != nil) == wantLSE {
				t.Fatalf("%s: layer %d keeps LSE %v and Probs %v, want only %s", be.Name(), l, L.LSE, L.Probs,
					map[bool]string{true: "LSE", false: "Probs"}[wantLSE])
			}
		}
		m.Forward(a, ids, nil)
		be.Upload(g.DFinal(), dFinal)
		m.Backward(a, g, ids)
		r := result{final: make([]float32, a.Final.Len())}
		be.Download(r.final, a.Final)
		for _, p := range params {
			v := make([]float32, p.Grad.Len())
			be.Download(v, p.Grad)
			r.grads = append(r.grads, v)
			r.names = append(r.names, p.Name)
		}
		return r
	}
	flash := run(cpu.New(), true)
	probs := run(noFlash{cpu.New()}, false)

	check := func(what string, got, want []float32) {
		t.Helper()
		var d, w float64
		for i := range want {
			x := float64(got[i]) - float64(want[i])
			d += x * x
			w += float64(want[i]) * float64(want[i])
		}
		if r := math.Sqrt(d / w); !(r <= 1e-5) || w == 0 {
			t.Errorf("%s: flash path differs from the probabilities path by %.3g relative (norm² %g)", what, r, w)
		}
	}
	check("final hidden state", flash.final, probs.final)
	for i, name := range flash.names {
		check("gradient of "+name, flash.grads[i], probs.grads[i])
	}
}
