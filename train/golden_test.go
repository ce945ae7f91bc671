package train_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/internal/testenv"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/model/safetensors"
	"github.com/fynetune/fynetune/train"
)

type traceJSON struct {
	Lora struct {
		R       int      `json:"r"`
		Alpha   float64  `json:"alpha"`
		Targets []string `json:"target_modules"`
	} `json:"lora"`
	Optimizer struct {
		Name        string    `json:"name"`
		LR          float64   `json:"lr"`
		Betas       []float64 `json:"betas"`
		Eps         float64   `json:"eps"`
		WeightDecay float64   `json:"weight_decay"`
		Momentum    float64   `json:"momentum"`
		MaxGradNorm float64   `json:"max_grad_norm"`
	} `json:"optimizer"`
	Steps     int       `json:"steps"`
	Losses    []float64 `json:"losses"`
	GradNorms []float64 `json:"grad_norms"`
}

func download(m *model.Model, t *compute.Tensor) []float32 {
	v := make([]float32, t.Len())
	m.Be.Download(v, t)
	return v
}

// relErr is ‖a-b‖ / ‖b‖ (absolute when b is zero).
func relErr(a, b []float32) float64 {
	var d, n float64
	for i := range a {
		e := float64(a[i]) - float64(b[i])
		d += e * e
		n += float64(b[i]) * float64(b[i])
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}

// TestTraceGolden replays PyTorch's LoRA traces step for step: step-0
// gradients, every loss and gradient norm, the final adapter and the logits
// it produces.
func TestTraceGolden(t *testing.T) {
	for _, mdl := range []string{"stories260K", "gpt2-tiny-random"} {
		for _, opt := range []string{"adamw", "sgd"} {
			t.Run(mdl+"/"+opt, func(t *testing.T) { replayTrace(t, mdl, opt) })
		}
	}
}

func replayTrace(t *testing.T, mdl, opt string) {
	raw, err := os.ReadFile(testenv.Golden(t, mdl, "trace_"+opt+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var tr traceJSON
	if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	g, err := safetensors.Open(testenv.Golden(t, mdl, "trace_"+opt+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	m, err := model.Load(testenv.Fixture(t, "models", mdl), cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	set, err := train.Attach(m, train.LoraConfig{Targets: tr.Lora.Targets, Rank: tr.Lora.R, Alpha: tr.Lora.Alpha}, 0)
	if err != nil {
		t.Fatal(err)
	}
	params := set.Params()
	golden := func(key string) []float32 {
		v, err := g.Float32(key)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, p := range params {
		m.Be.Upload(p.Value, golden("init."+p.Name))
	}
	oc := train.OptimConfig{Name: tr.Optimizer.Name, LR: tr.Optimizer.LR, Eps: tr.Optimizer.Eps,
		WeightDecay: tr.Optimizer.WeightDecay, Momentum: tr.Optimizer.Momentum, MaxGradNorm: tr.Optimizer.MaxGradNorm}
	if len(tr.Optimizer.Betas) == 2 {
		oc.Beta1, oc.Beta2 = tr.Optimizer.Betas[0], tr.Optimizer.Betas[1]
	}
	o, err := train.NewOptimizer(m.Be, oc, params)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := g.Info("batch.0.input_ids")
	st := train.NewStepper(m, info.Shape[0], info.Shape[1])
	for s := 0; s < tr.Steps; s++ {
		ids, _ := g.Int32(fmt.Sprintf("batch.%d.input_ids", s))
		tg, _ := g.Int32(fmt.Sprintf("batch.%d.targets", s))
		train.ZeroGrad(m.Be, params)
		sum, n := st.ForwardBackward(ids, tg, train.Scored(tg), true)
		if loss := sum / float64(n); math.Abs(loss-tr.Losses[s]) > 1e-4 {
			t.Errorf("step %d: loss %.7f, want %.7f", s, loss, tr.Losses[s])
		}
		if s == 0 {
			for _, p := range params {
				if e := relErr(download(m, p.Grad), golden("grad0."+p.Name)); e > 1e-4 {
					t.Errorf("step 0: gradient of %s off by %.2g relative", p.Name, e)
				}
			}
		}
		norm := o.Update(tr.Optimizer.LR)
		if e := math.Abs(norm-tr.GradNorms[s]) / tr.GradNorms[s]; e > 1e-4 {
			t.Errorf("step %d: grad norm %.7f, want %.7f", s, norm, tr.GradNorms[s])
		}
	}
	for _, p := range params {
		if e := relErr(download(m, p.Value), golden("final."+p.Name)); e > 1e-4 {
			t.Errorf("final %s off by %.2g relative", p.Name, e)
		}
	}
	// final_logits: the golden forward batch through the trained adapter
	fw, err := safetensors.Open(testenv.Golden(t, mdl, "forward.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	fi, _ := fw.Info("input_ids")
	ids, _ := fw.Int32("input_ids")
	a := m.NewActs(fi.Shape[0], fi.Shape[1], false)
	m.Forward(a, ids, nil)
	logits := m.Be.NewTensor(fi.Shape[0]*fi.Shape[1], m.Config.Vocab)
	m.Logits(logits, a.Final)
	want := golden("final_logits")
	got := download(m, logits)
	var worst float64
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
	}
	if worst > 1e-4 {
		t.Errorf("final logits off by %.3g", worst)
	}
}
