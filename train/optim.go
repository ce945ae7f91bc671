package train

import (
	"fmt"
	"math"

	"github.com/fynetune/fynetune/compute"
)

// OptimConfig selects and tunes the optimizer.
type OptimConfig struct {
	Name        string  // "adamw" or "sgd"
	LR          float64 // peak learning rate
	Beta1       float64 // AdamW; default 0.9
	Beta2       float64 // AdamW; default 0.999
	Eps         float64 // AdamW; default 1e-8
	WeightDecay float64 // decoupled (AdamW)
	Momentum    float64 // SGD
	MaxGradNorm float64 // global clipping; 0 disables
}

// Optimizer updates parameters from their gradients on their backend. Its
// state (moments, step count) is part of a checkpoint.
type Optimizer struct {
	Cfg    OptimConfig
	Params []Param
	Step   int               // updates done
	M, V   []*compute.Tensor // AdamW moments; SGD momentum buffers in M
	be     compute.Backend
}

// NewOptimizer checks cfg and allocates state for params on be.
func NewOptimizer(be compute.Backend, cfg OptimConfig, params []Param) (*Optimizer, error) {
	switch cfg.Name {
	case "adamw":
		if cfg.Beta1 == 0 && cfg.Beta2 == 0 {
			cfg.Beta1, cfg.Beta2 = 0.9, 0.999
		}
		if cfg.Eps == 0 {
			cfg.Eps = 1e-8
		}
	case "sgd":
	default:
		return nil, fmt.Errorf("unknown optimizer %q (want adamw or sgd)", cfg.Name)
	}
	if !(cfg.LR > 0) {
		return nil, fmt.Errorf("learning rate must be positive, got %g", cfg.LR)
	}
	o := &Optimizer{Cfg: cfg, Params: params, be: be}
	for _, p := range params {
		o.M = append(o.M, be.NewTensor(p.Value.Shape...))
		if cfg.Name == "adamw" {
			o.V = append(o.V, be.NewTensor(p.Value.Shape...))
		}
	}
	return o, nil
}

// GradNorm is the global L2 norm of all gradients.
func GradNorm(be compute.Backend, params []Param) float64 {
	var s float64
	for _, p := range params {
		s += be.SumSquares(p.Grad)
	}
	return math.Sqrt(s)
}

// ZeroGrad clears every gradient.
func ZeroGrad(be compute.Backend, params []Param) {
	for _, p := range params {
		be.Zero(p.Grad)
	}
}

// Update clips the gradients (torch.nn.utils.clip_grad_norm_ semantics),
// applies one step at learning rate lr and returns the gradient norm before
// clipping.
func (o *Optimizer) Update(lr float64) float64 {
	be, c := o.be, o.Cfg
	norm := GradNorm(be, o.Params)
	if c.MaxGradNorm > 0 {
		if coef := c.MaxGradNorm / (norm + 1e-6); coef < 1 {
			for _, p := range o.Params {
				be.Scale(p.Grad, float32(coef))
			}
		}
	}
	o.Step++
	for k, p := range o.Params {
		switch c.Name {
		case "adamw":
			be.AdamW(p.Value, p.Grad, o.M[k], o.V[k], float32(lr), float32(c.Beta1), float32(c.Beta2), float32(c.Eps), float32(c.WeightDecay), o.Step)
		case "sgd":
			be.SGD(p.Value, p.Grad, o.M[k], float32(lr), float32(c.Momentum), o.Step)
		}
	}
	return norm
}

// Schedule gives the learning rate at each step.
type Schedule struct {
	Kind   string // "constant", "linear" or "cosine"
	Peak   float64
	Warmup int // steps of linear warm-up from 0
	Total  int // total steps (for linear and cosine decay)
}

// LR is the learning rate of step (0-based), following the Hugging Face
// schedulers (get_constant/linear/cosine_schedule_with_warmup).
func (s Schedule) LR(step int) float64 {
	if step < s.Warmup {
		return s.Peak * float64(step) / float64(max(1, s.Warmup))
	}
	switch s.Kind {
	case "linear":
		return s.Peak * math.Max(0, float64(s.Total-step)/float64(max(1, s.Total-s.Warmup)))
	case "cosine":
		p := float64(step-s.Warmup) / float64(max(1, s.Total-s.Warmup))
		return s.Peak * math.Max(0, 0.5*(1+math.Cos(math.Pi*p)))
	}
	return s.Peak
}

// CheckSchedule validates a schedule kind.
func CheckSchedule(kind string) error {
	switch kind {
	case "constant", "linear", "cosine":
		return nil
	}
	return fmt.Errorf("unknown schedule %q (want constant, linear or cosine)", kind)
}
