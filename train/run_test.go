package train_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/internal/testenv"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/train"
)

// smallRun is a quick LoRA run on stories260K with dropout, so that resume
// must restore the dropout random state as well as everything else.
func smallRun(t *testing.T, out string, steps int) train.Config {
	c := train.DefaultConfig()
	c.Model = testenv.Fixture(t, "models", "stories260K")
	c.Data = testenv.Fixture(t, "datasets", "tinystories_sample.txt")
	c.Out = out
	c.Steps, c.Batch, c.SeqLen, c.GradAccum = steps, 2, 32, 2
	c.LR, c.Warmup, c.Schedule = 3e-3, 2, "cosine"
	c.Dropout, c.Rank, c.Alpha = 0.1, 4, 8
	c.Targets = []string{"q_proj", "v_proj", "down_proj"}
	c.EvalEvery, c.SaveEvery, c.ValidSplit = 3, 4, 0.2
	return c
}

func opts() train.Options { return train.Options{Backend: cpu.New()} }

// TestResumeIsExact: a run stopped at step k and resumed ends bit-identical
// to an uninterrupted run, metrics included.
func TestResumeIsExact(t *testing.T) {
	dir := t.TempDir()
	full := smallRun(t, filepath.Join(dir, "full"), 10)
	if _, err := train.Train(context.Background(), full, opts()); err != nil {
		t.Fatal(err)
	}

	part := smallRun(t, filepath.Join(dir, "part"), 10)
	// Stop after step 6 by cancelling from the metrics stream.
	ctx, cancel := context.WithCancel(context.Background())
	metrics := make(chan train.Metrics, 100)
	go func() {
		for m := range metrics {
			if m.Step == 6 {
				cancel()
			}
		}
	}()
	o := opts()
	o.Metrics = metrics
	_, err := train.Train(ctx, part, o)
	close(metrics)
	if !errors.Is(err, train.ErrStopped) {
		t.Fatalf("stopped run: %v, want ErrStopped", err)
	}
	// The stop lands after step 6 or a step later (the cancel races the
	// loop); either way a checkpoint of a step before the end must exist.
	entries, _ := os.ReadDir(filepath.Join(part.Out, train.CheckpointsDir))
	stopped := ""
	for _, e := range entries {
		stopped = e.Name()
	}
	if stopped == "" || stopped == "step-000010" {
		t.Fatalf("no checkpoint saved at the stop (have %v)", entries)
	}
	o = opts()
	o.Resume = true
	if _, err := train.Train(context.Background(), train.Config{Out: part.Out}, o); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{train.AdapterWeightsFile, filepath.Join(train.CheckpointsDir, "step-000010", "state.safetensors")} {
		a, _ := os.ReadFile(filepath.Join(full.Out, f))
		b, _ := os.ReadFile(filepath.Join(part.Out, f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs between the uninterrupted and the resumed run", f)
		}
	}
	strip := func(path string) string { // elapsed time, speed and memory differ by nature
		raw, _ := os.ReadFile(path)
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			i := strings.Index(line, `"tokens_per_s"`)
			out = append(out, line[:i])
		}
		return strings.Join(out, "\n")
	}
	if a, b := strip(filepath.Join(full.Out, train.MetricsFile)), strip(filepath.Join(part.Out, train.MetricsFile)); a != b {
		t.Errorf("metrics differ:\n%s\n---\n%s", a, b)
	}
}

// TestGateHoldsBetweenSteps: a run started paused computes nothing until
// resumed; paused after a step (from the engine's own goroutine, through the
// checkpoint log line, so the point is exact) it parks before the next step,
// and a stop while paused saves that step.
func TestGateHoldsBetweenSteps(t *testing.T) {
	c := smallRun(t, t.TempDir(), 40)
	c.SaveEvery = 3
	gate := &train.Gate{}
	gate.Pause()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	metrics := make(chan train.Metrics, 100)
	o := opts()
	o.Metrics, o.Gate = metrics, gate
	o.Log = func(format string, args ...any) {
		if strings.HasSuffix(fmt.Sprintf(format, args...), "step-000003") {
			gate.Pause()
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := train.Train(ctx, c, o)
		done <- err
	}()
	quiet := func(what string) int { // the last step seen before 300 ms pass with none
		last := -1
		for {
			select {
			case m := <-metrics:
				last = m.Step
			case err := <-done:
				t.Fatalf("%s: the run ended (%v)", what, err)
			case <-time.After(300 * time.Millisecond):
				return last
			}
		}
	}
	if s := quiet("started paused"); s != -1 {
		t.Fatalf("a run started paused reported step %d", s)
	}
	gate.Resume()
	if s := quiet("paused after step 3"); s != 3 {
		t.Fatalf("paused after step 3, the last step reported is %d", s)
	}
	if s := quiet("still paused"); s != -1 {
		t.Fatalf("a paused run reported step %d", s)
	}
	cancel()
	if err := <-done; !errors.Is(err, train.ErrStopped) {
		t.Fatalf("stop while paused: %v, want ErrStopped", err)
	}
	entries, _ := os.ReadDir(filepath.Join(c.Out, train.CheckpointsDir))
	if len(entries) != 1 || entries[0].Name() != "step-000003" {
		t.Fatalf("checkpoints %v, want only step-000003", entries)
	}
}

// TestNaNLossStops: a diverging run ends with a clear error and keeps the
// last good checkpoint.
func TestNaNLossStops(t *testing.T) {
	c := smallRun(t, t.TempDir(), 40)
	c.LR, c.MaxGradNorm, c.Warmup, c.Schedule, c.SaveEvery, c.Optimizer = 1e30, 0, 0, "constant", 1, "sgd"
	_, err := train.Train(context.Background(), c, opts())
	if err == nil || !strings.Contains(err.Error(), "loss is") || !strings.Contains(err.Error(), "checkpoint") {
		t.Fatalf("want a non-finite loss error naming the checkpoint, got %v", err)
	}
	if _, err := train.LoadConfig(filepath.Join(c.Out, train.ConfigFile)); err != nil {
		t.Fatal(err)
	}
	o := opts()
	o.Resume = true
	j, err := train.NewJob(train.Config{Out: c.Out}, o)
	if err != nil {
		t.Fatalf("the last good checkpoint cannot be resumed: %v", err)
	}
	j.Close()
}

// TestFullGradientMatchesLoRA checks full fine-tuning's dW against a second
// computation: with B = 0, LoRA's gradient of B is s·dW·Aᵀ.
func TestFullGradientMatchesLoRA(t *testing.T) {
	for _, name := range []string{"stories260K", "gpt2-tiny-random"} {
		t.Run(name, func(t *testing.T) {
			dir := testenv.Fixture(t, "models", name)
			ids := make([]int32, 2*16)
			tg := make([]int32, 2*16)
			for i := range ids {
				ids[i] = int32((i*37 + 11) % 500)
				tg[i] = int32((i*53 + 7) % 500)
			}
			tg[3] = -100
			full, err := model.Load(dir, cpu.New())
			if err != nil {
				t.Fatal(err)
			}
			defer full.Close()
			fp := full.EnableFullTraining()
			train.NewStepper(full, 2, 16).ForwardBackward(ids, tg, train.Scored(tg), true)

			lm, err := model.Load(dir, cpu.New())
			if err != nil {
				t.Fatal(err)
			}
			defer lm.Close()
			set, err := train.Attach(lm, train.LoraConfig{Targets: []string{"all-linear"}, Rank: 3, Alpha: 6}, 1)
			if err != nil {
				t.Fatal(err)
			}
			train.NewStepper(lm, 2, 16).ForwardBackward(ids, tg, train.Scored(tg), true)

			grads := map[string][]float32{}
			for _, p := range fp {
				grads[p.Name] = p.Grad.Data
			}
			for _, l := range set.Mods {
				var w *model.Linear
				for _, x := range full.Linears() {
					if x.Path == l.Path {
						w = x
					}
				}
				dW := grads[w.W.Name]
				out, in, r := w.W.Out, w.W.In, l.A.Shape[0]
				want := make([]float32, out*r)
				for o := 0; o < out; o++ {
					for k := 0; k < r; k++ {
						var s float64
						for i := 0; i < in; i++ {
							g := dW[o*in+i]
							if w.W.Transposed {
								g = dW[i*out+o]
							}
							s += float64(g) * float64(l.A.Data[k*in+i])
						}
						want[o*r+k] = float32(s) * l.Scale
					}
				}
				if e := relErr(l.GB.Data, want); e > 1e-4 {
					t.Errorf("%s: LoRA dB and s·dW·Aᵀ differ by %.2g relative", l.Path, e)
				}
			}
			// Norm and embedding gradients: central differences on a few entries.
			loss := func() float64 {
				s, n := train.NewStepper(full, 2, 16).ForwardBackward(ids, tg, 1, false)
				return s / float64(n)
			}
			for _, p := range fp {
				if len(p.Value.Shape) != 1 && !strings.Contains(p.Name, "embed") && !strings.Contains(p.Name, "wte") {
					continue
				}
				for _, i := range []int{0, len(p.Value.Data) / 2} {
					if strings.Contains(p.Name, "embed") || strings.Contains(p.Name, "wte") {
						i = int(ids[5])*p.Value.Shape[1] + 1 // a row that is used
					}
					old := p.Value.Data[i]
					const h = 1e-2
					p.Value.Data[i] = old + h
					up := loss()
					p.Value.Data[i] = old - h
					down := loss()
					p.Value.Data[i] = old
					fd := (up - down) / (2 * h)
					if g := float64(p.Grad.Data[i]); math.Abs(g-fd) > 2e-3+0.02*math.Abs(fd) {
						t.Errorf("%s[%d]: gradient %.6g, finite difference %.6g", p.Name, i, g, fd)
					}
				}
			}
		})
	}
}

// TestCSVColumnsAndTextSplit: the CSV column and text-split settings reach
// the dataset reader.
func TestCSVColumnsAndTextSplit(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "qa.csv")
	os.WriteFile(csv, []byte("question,answer,other\n\"What is 2+2?\",4,x\n\"Capital of France?\",Paris,y\n\"Color of grass?\",green,z\n"), 0o644)
	c := smallRun(t, filepath.Join(dir, "run"), 1)
	c.Data, c.CSVPrompt, c.CSVAnswer, c.ValidSplit = csv, "question", "answer", 0
	j, err := train.NewJob(c, opts())
	if err != nil {
		t.Fatal(err)
	}
	if st := j.Data.Stats; st.Format != "csv" || st.TrainExamples != 3 {
		t.Errorf("CSV with prompt/completion columns: format %q, %d rows", st.Format, st.TrainExamples)
	}
	j.Close()
	c.CSVPrompt = "nope"
	if _, err := train.NewJob(c, opts()); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown CSV column: %v", err)
	}

	text := filepath.Join(dir, "lines.txt")
	os.WriteFile(text, []byte("one line of text here\nanother line of text\nthird line of words\n"), 0o644)
	docs := func(split string) int {
		c := smallRun(t, filepath.Join(dir, "run-"+split), 1)
		c.Data, c.TextSplit, c.ValidSplit = text, split, 0
		j, err := train.NewJob(c, opts())
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		return j.Data.Stats.Records
	}
	if l, n := docs("line"), docs("none"); l != 3 || n != 1 {
		t.Errorf("text split line: %d documents, none: %d; want 3 and 1", l, n)
	}
}
