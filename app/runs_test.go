package app

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fynetune/fynetune/train"
)

// fakeRun writes a run directory: config, metrics of steps 1..steps of
// total, a checkpoint at ckpt (when >= 0) and the adapter (when adapter).
func fakeRun(t *testing.T, root, name string, steps, total, ckpt int, adapter bool, mtime time.Time) string {
	t.Helper()
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := train.DefaultConfig()
	cfg.Model, cfg.Data, cfg.Out = "/models/"+name, "/data/"+name+".jsonl", dir
	if err := train.SaveConfig(filepath.Join(dir, train.ConfigFile), cfg); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for s := 1; s <= steps; s++ {
		ev := ""
		if s%2 == 0 {
			ev = fmt.Sprintf(`,"eval_loss":%g`, 5-float64(s)/10)
		}
		fmt.Fprintf(&b, `{"step":%d,"total_steps":%d,"loss":%g%s}`+"\n", s, total, 4-float64(s)/10, ev)
	}
	if err := os.WriteFile(filepath.Join(dir, train.MetricsFile), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if ckpt >= 0 {
		cd := train.CheckpointDir(dir, ckpt)
		os.MkdirAll(cd, 0o755)
		os.WriteFile(filepath.Join(cd, "state.json"), []byte("{}"), 0o644)
		// an incomplete checkpoint (no state.json) newer than it does not count
		os.MkdirAll(train.CheckpointDir(dir, ckpt+100), 0o755)
	}
	if adapter {
		os.WriteFile(filepath.Join(dir, train.AdapterWeightsFile), []byte("x"), 0o644)
	}
	os.Chtimes(filepath.Join(dir, train.ConfigFile), mtime, mtime)
	return dir
}

func TestListRuns(t *testing.T) {
	root := t.TempDir()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	fakeRun(t, root, "done", 10, 10, 10, true, t0)
	fakeRun(t, root, "stopped", 4, 10, 4, false, t0.Add(time.Hour))
	fakeRun(t, root, "crashed", 0, 10, -1, false, t0.Add(2*time.Hour))
	os.MkdirAll(filepath.Join(root, "not-a-run"), 0o755)
	runs, err := ListRuns(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name   string
		status RunStatus
		step   int
		loss   float64
		eval   float64
		ckpt   int
	}{
		{"crashed", RunIncomplete, 0, math.NaN(), math.NaN(), -1},
		{"stopped", RunStopped, 4, 3.6, 4.6, 4},
		{"done", RunDone, 10, 3.0, 4.0, 10},
	}
	if len(runs) != len(want) {
		t.Fatalf("%d runs, want %d: %+v", len(runs), len(want), runs)
	}
	same := func(a, b float64) bool { return (math.IsNaN(a) && math.IsNaN(b)) || math.Abs(a-b) < 1e-12 }
	for i, w := range want {
		r := runs[i]
		if r.Name != w.name || r.Status != w.status || r.Step != w.step || !same(r.FinalLoss, w.loss) || !same(r.EvalLoss, w.eval) || r.Checkpoint != w.ckpt {
			t.Errorf("run %d: %s %s step %d loss %g eval %g ckpt %d; want %+v", i, r.Name, r.Status, r.Step, r.FinalLoss, r.EvalLoss, r.Checkpoint, w)
		}
		if r.Model != "/models/"+w.name {
			t.Errorf("run %s: model %q", r.Name, r.Model)
		}
	}
	if runs[2].Adapter != filepath.Join(root, "done") {
		t.Errorf("done run adapter %q", runs[2].Adapter)
	}
	if rs, err := ListRuns(filepath.Join(root, "missing")); err != nil || len(rs) != 0 {
		t.Errorf("missing root: %v %v", rs, err)
	}
}

func TestReadMetricsBadLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "metrics.jsonl")
	os.WriteFile(p, []byte("{\"step\":1}\n\n{\"step\":\n"), 0o644)
	ms, err := ReadMetrics(p)
	if err == nil || !strings.Contains(err.Error(), ":3:") {
		t.Fatalf("error %v, want one naming line 3", err)
	}
	if len(ms) != 1 {
		t.Errorf("%d metrics before the bad line, want 1", len(ms))
	}
}

func TestNewRunDir(t *testing.T) {
	root := t.TempDir()
	now := time.Date(2025, 3, 1, 12, 30, 5, 0, time.UTC)
	d := NewRunDir(root, "/m/My Model!", "/d/train.jsonl", now)
	if want := filepath.Join(root, "20250301-123005-My_Model-train"); d != want {
		t.Fatalf("NewRunDir = %q, want %q", d, want)
	}
	os.MkdirAll(d, 0o755)
	if d2 := NewRunDir(root, "/m/My Model!", "/d/train.jsonl", now); d2 != d+"-2" {
		t.Errorf("second NewRunDir = %q, want %q", d2, d+"-2")
	}
}
