package train

import (
	"fmt"
	"math"
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

// Optimizer updates parameters from their gradients. Its state (moments,
// step count) is part of a checkpoint.
type Optimizer struct {
	Cfg    OptimConfig
	Params []Param
	Step   int         // updates done
	M, V   [][]float32 // AdamW moments, or SGD momentum buffers in M
}

// NewOptimizer checks cfg and allocates state for params.
func NewOptimizer(cfg OptimConfig, params []Param) (*Optimizer, error) {
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
	o := &Optimizer{Cfg: cfg, Params: params}
	for _, p := range params {
		n := p.Value.Len()
		o.M = append(o.M, make([]float32, n))
		if cfg.Name == "adamw" {
			o.V = append(o.V, make([]float32, n))
		}
	}
	return o, nil
}

// GradNorm is the global L2 norm of all gradients.
func GradNorm(params []Param) float64 {
	var s float64
	for _, p := range params {
		for _, g := range p.Grad.Data {
			s += float64(g) * float64(g)
		}
	}
	return math.Sqrt(s)
}

// ZeroGrad clears every gradient.
func ZeroGrad(params []Param) {
	for _, p := range params {
		clear(p.Grad.Data)
	}
}

// Update clips the gradients (torch.nn.utils.clip_grad_norm_ semantics),
// applies one step at learning rate lr and returns the gradient norm before
// clipping.
func (o *Optimizer) Update(lr float64) float64 {
	norm := GradNorm(o.Params)
	if o.Cfg.MaxGradNorm > 0 {
		coef := o.Cfg.MaxGradNorm / (norm + 1e-6)
		if coef < 1 {
			c := float32(coef)
			for _, p := range o.Params {
				for i := range p.Grad.Data {
					p.Grad.Data[i] *= c
				}
			}
		}
	}
	o.Step++
	c := o.Cfg
	switch c.Name {
	case "adamw":
		// torch.optim.AdamW: decoupled decay, bias correction, eps after the sqrt.
		bc1 := 1 - math.Pow(c.Beta1, float64(o.Step))
		bc2 := 1 - math.Pow(c.Beta2, float64(o.Step))
		b1, b2 := float32(c.Beta1), float32(c.Beta2)
		decay := float32(1 - lr*c.WeightDecay)
		stepSize := lr / bc1
		sqrtBC2 := math.Sqrt(bc2)
		for k, p := range o.Params {
			m, v, w, g := o.M[k], o.V[k], p.Value.Data, p.Grad.Data
			for i := range w {
				w[i] *= decay
				m[i] = b1*m[i] + (1-b1)*g[i]
				v[i] = b2*v[i] + (1-b2)*g[i]*g[i]
				denom := math.Sqrt(float64(v[i]))/sqrtBC2 + c.Eps
				w[i] -= float32(stepSize * float64(m[i]) / denom)
			}
		}
	case "sgd":
		mu := float32(c.Momentum)
		for k, p := range o.Params {
			w, g, buf := p.Value.Data, p.Grad.Data, o.M[k]
			for i := range w {
				d := g[i]
				if mu != 0 {
					if o.Step == 1 {
						buf[i] = d
					} else {
						buf[i] = mu*buf[i] + d
					}
					d = buf[i]
				}
				w[i] -= float32(lr) * d
			}
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
