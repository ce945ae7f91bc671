package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/model"
)

// LoraConfig says which modules get adapters and how they are shaped.
type LoraConfig struct {
	Targets []string // module names (q_proj, c_attn, ...) or "all-linear"
	Rank    int
	Alpha   float64
	RSLora  bool    // scale alpha/√r instead of alpha/r
	Dropout float64 // on the adapter's input only, as PEFT
	Init    string  // "peft" (A kaiming-uniform, B zero) or "gaussian" (A N(0, 1/r), B zero)
}

// Scale is the factor applied to the adapter's output.
func (c LoraConfig) Scale() float32 {
	if c.RSLora {
		return float32(c.Alpha / math.Sqrt(float64(c.Rank)))
	}
	return float32(c.Alpha / float64(c.Rank))
}

// Lora is one adapted module: y = x·Wᵀ + b + s·(dropout(x)·Aᵀ)·Bᵀ, with
// A [r, in] and B [out, r], exactly as HF PEFT.
type Lora struct {
	Path    string // module path; PEFT keys are base_model.model.<Path>.lora_A.weight
	Scale   float32
	A, B    *compute.Tensor
	GA, GB  *compute.Tensor // gradients, accumulated by Backward
	dropout float32
	train   bool // dropout active (training forward passes)

	src  *rand.PCG // dropout random state, saved in checkpoints
	rng  *rand.Rand
	h    *compute.Tensor // x·Aᵀ of the last forward [N, r]
	dh   *compute.Tensor // [N, r]
	xd   *compute.Tensor // dropout(x) of the last forward [N, in]
	dxd  *compute.Tensor // [N, in]
	mask *compute.Tensor // dropout mask (0 or 1/(1-p)) of the last forward [N, in]
	host []float32       // the mask drawn on the host
	n    int             // rows of the buffers above

	hCap, dhCap, xdCap, dxdCap, maskCap *compute.Tensor // the buffers at full capacity
}

// KeyA and KeyB are the PEFT state-dict keys of the adapter's matrices.
func (l *Lora) KeyA() string { return "base_model.model." + l.Path + ".lora_A.weight" }

// KeyB is the PEFT key of B.
func (l *Lora) KeyB() string { return "base_model.model." + l.Path + ".lora_B.weight" }

// buffers sizes the per-forward scratch for n rows, growing only.
func (l *Lora) buffers(be compute.Backend, n int) {
	if l.n == n {
		return
	}
	r, in := l.A.Shape[0], l.A.Shape[1]
	if l.hCap == nil || l.hCap.Shape[0] < n {
		l.hCap, l.dhCap = be.NewTensor(n, r), be.NewTensor(n, r)
		if l.dropout > 0 {
			l.xdCap, l.dxdCap, l.maskCap = be.NewTensor(n, in), be.NewTensor(n, in), be.NewTensor(n, in)
			l.host = make([]float32, n*in)
		}
	}
	l.h, l.dh = l.hCap.RowView(0, n), l.dhCap.RowView(0, n)
	if l.dropout > 0 {
		l.xd, l.dxd, l.mask = l.xdCap.RowView(0, n), l.dxdCap.RowView(0, n), l.maskCap.RowView(0, n)
	}
	l.n = n
}

// Forward adds s·(dropout(x)·Aᵀ)·Bᵀ to out.
func (l *Lora) Forward(be compute.Backend, out, x *compute.Tensor) {
	l.buffers(be, x.Rows())
	in := x
	if l.dropout > 0 && l.train {
		// Inverted dropout; the mask is drawn on the host and kept for the
		// backward pass.
		keep := 1 / (1 - l.dropout)
		host := l.host[:x.Len()]
		for i := range host {
			host[i] = 0
			if l.rng.Float32() >= l.dropout {
				host[i] = keep
			}
		}
		be.Upload(l.mask, host)
		be.Mul(l.xd, x, l.mask)
		in = l.xd
	}
	be.MatMul(l.h, in, l.A, false, true, 1, 0)
	be.MatMul(out, l.h, l.B, false, true, l.Scale, 1)
}

// Replay adds the output of the last Forward to out again, from the kept
// x·Aᵀ: a block recomputed for gradient checkpointing sees the same dropout
// mask as the first pass (model.Replayer).
func (l *Lora) Replay(be compute.Backend, out *compute.Tensor) {
	be.MatMul(out, l.h, l.B, false, true, l.Scale, 1)
}

// Backward accumulates dA and dB and adds the adapter's share of dx.
func (l *Lora) Backward(be compute.Backend, dx, dy, x *compute.Tensor) {
	in := x
	dropout := l.dropout > 0 && l.train
	if dropout {
		in = l.xd
	}
	be.MatMul(l.GB, dy, l.h, true, false, l.Scale, 1)  // dB += s·dyᵀ·h
	be.MatMul(l.dh, dy, l.B, false, false, l.Scale, 0) // dh = s·dy·B
	be.MatMul(l.GA, l.dh, in, true, false, 1, 1)       // dA += dhᵀ·x
	if dropout {
		be.MatMul(l.dxd, l.dh, l.A, false, false, 1, 0)
		be.Mul(l.dxd, l.dxd, l.mask)
		be.Add(dx, dx, l.dxd)
		return
	}
	be.MatMul(dx, l.dh, l.A, false, false, 1, 1) // dx += dh·A
}

// Adapters is the set of LoRA modules attached to a model.
type Adapters struct {
	Config LoraConfig
	Mods   []*Lora // in the model's layer order
}

// MatchTargets returns the linear modules of m that targets select. A target
// matches the last component of a module path (PEFT's rule), so GPT-2's
// c_proj matches both the attention and the MLP projection; "all-linear"
// selects every linear module but the head.
func MatchTargets(m *model.Model, targets []string) ([]*model.Linear, error) {
	all := m.Linears()
	known := map[string]bool{}
	for _, l := range all {
		known[lastPart(l.Path)] = true
	}
	want := map[string]bool{}
	for _, t := range targets {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if t == "all-linear" {
			return all, nil
		}
		if !known[t] {
			names := make([]string, 0, len(known))
			for k := range known {
				names = append(names, k)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("target module %q is not in this %s model (its linear modules: %s, or all-linear)", t, m.Config.ModelType, strings.Join(names, ", "))
		}
		want[t] = true
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("no target modules given")
	}
	var out []*model.Linear
	for _, l := range all {
		if want[lastPart(l.Path)] {
			out = append(out, l)
		}
	}
	return out, nil
}

func lastPart(path string) string { return path[strings.LastIndexByte(path, '.')+1:] }

// Attach creates adapters on the targeted modules of m, initialised with
// seed, and hooks them into the model's forward and backward passes.
func Attach(m *model.Model, cfg LoraConfig, seed uint64) (*Adapters, error) {
	if cfg.Rank < 1 {
		return nil, fmt.Errorf("LoRA rank must be at least 1, got %d", cfg.Rank)
	}
	if cfg.Dropout < 0 || cfg.Dropout >= 1 {
		return nil, fmt.Errorf("LoRA dropout must be in [0, 1), got %g", cfg.Dropout)
	}
	mods, err := MatchTargets(m, cfg.Targets)
	if err != nil {
		return nil, err
	}
	be := m.Be
	rng := rand.New(rand.NewPCG(seed, 0x10a))
	set := &Adapters{Config: cfg}
	for _, lin := range mods {
		if lin.Adapter != nil {
			return nil, fmt.Errorf("module %s already has an adapter", lin.Path)
		}
		in, out := lin.W.In, lin.W.Out
		l := &Lora{Path: lin.Path, Scale: cfg.Scale(), dropout: float32(cfg.Dropout),
			A: be.NewTensor(cfg.Rank, in), B: be.NewTensor(out, cfg.Rank),
			GA: be.NewTensor(cfg.Rank, in), GB: be.NewTensor(out, cfg.Rank)}
		l.setDropout(float32(cfg.Dropout), seed)
		a := make([]float32, cfg.Rank*in)
		switch cfg.Init {
		case "", "peft":
			// kaiming_uniform_(a=√5) on [r, in] is U(-1/√in, 1/√in)
			bound := 1 / math.Sqrt(float64(in))
			for i := range a {
				a[i] = float32((rng.Float64()*2 - 1) * bound)
			}
		case "gaussian":
			std := 1 / float64(cfg.Rank)
			for i := range a {
				a[i] = float32(rng.NormFloat64() * std)
			}
		default:
			return nil, fmt.Errorf("unknown LoRA init %q (want peft or gaussian)", cfg.Init)
		}
		be.Upload(l.A, a)
		lin.Adapter = l
		set.Mods = append(set.Mods, l)
	}
	return set, nil
}

// Detach removes the adapters from the model.
func (s *Adapters) Detach(m *model.Model) {
	for _, lin := range m.Linears() {
		if _, ok := lin.Adapter.(*Lora); ok {
			lin.Adapter = nil
		}
	}
}

// SetTraining turns dropout on (training) or off (evaluation).
func (s *Adapters) SetTraining(on bool) {
	for _, l := range s.Mods {
		l.train = on
	}
}

// Params lists the trainable tensors in a fixed order (each module's A then B).
func (s *Adapters) Params() []Param {
	var out []Param
	for _, l := range s.Mods {
		out = append(out, Param{Name: l.KeyA(), Value: l.A, Grad: l.GA}, Param{Name: l.KeyB(), Value: l.B, Grad: l.GB})
	}
	return out
}

// Param is a trainable tensor with its gradient.
type Param = model.Param
