package cli_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fynetune/fynetune/internal/testenv"
)

// TestTrainRecompute: `train --recompute` (gradient checkpointing) is
// written to the run's config.toml and trains exactly as without it: the
// same loss and gradient norm at every step, with LoRA dropout on.
func TestTrainRecompute(t *testing.T) {
	model := testenv.Fixture(t, "models", "stories260K")
	data := testenv.Fixture(t, "datasets", "tinystories_sample.txt")
	dir := t.TempDir()
	type metric struct {
		Step     int
		Loss     float64
		GradNorm float64 `json:"grad_norm"`
	}
	train := func(name string, extra ...string) []metric {
		out := filepath.Join(dir, name)
		args := append([]string{"train", "--model", model, "--data", data, "--out", out, "--steps", "4", "--batch", "2",
			"--seq-len", "48", "--dropout", "0.1", "--targets", "q_proj,v_proj,down_proj"}, extra...)
		if code, _, errs := run(args...); code != 0 {
			t.Fatalf("train %v: exit %d: %s", extra, code, errs)
		}
		cfg, err := os.ReadFile(filepath.Join(out, "config.toml"))
		if err != nil {
			t.Fatal(err)
		}
		want := "recompute = " + map[bool]string{true: "true", false: "false"}[len(extra) > 0]
		if !strings.Contains(string(cfg), want) {
			t.Errorf("%s/config.toml lacks %q", name, want)
		}
		f, err := os.Open(filepath.Join(out, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var ms []metric
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var m metric
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			if m.Step > 0 && m.Loss != 0 {
				ms = append(ms, m)
			}
		}
		return ms
	}
	plain, ck := train("plain"), train("recompute", "--recompute")
	if len(plain) != 4 || len(ck) != len(plain) {
		t.Fatalf("%d and %d logged steps, want 4", len(plain), len(ck))
	}
	for i := range plain {
		if plain[i] != ck[i] {
			t.Errorf("step %d: %+v without recomputation, %+v with", i+1, plain[i], ck[i])
		}
	}
}
