package app

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fynetune/fynetune/assets"
)

// extractDemo writes the embedded demo to a test folder.
func extractDemo(t *testing.T) *Demo {
	t.Helper()
	d, err := ExtractDemo(assets.Demo, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestExtractDemo(t *testing.T) {
	cache := t.TempDir()
	d, err := ExtractDemo(assets.Demo, cache)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{d.Model, d.Data, d.Text, d.Config.Model, d.Config.Data} {
		if !filepath.IsAbs(p) {
			t.Errorf("%q is not absolute", p)
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("demo path: %v", err)
		}
	}
	if d.Config.Out != "" {
		t.Errorf("demo config names a run directory %q", d.Config.Out)
	}
	if err := d.Config.Check(); err == nil || d.Config.Mode != "lora" {
		// Check fails only for the missing Out
		t.Errorf("demo config: mode %q, check %v", d.Config.Mode, err)
	}
	if len(d.Prompts) == 0 {
		t.Error("no sample prompts")
	}
	info, err := Inspect(d.Model)
	if err != nil {
		t.Fatal(err)
	}
	if info.Architecture != "llama" || info.Params < 100_000 || info.Params > 500_000 {
		t.Errorf("demo model: %s with %d parameters", info.Architecture, info.Params)
	}

	// A second launch reuses the copy.
	weights := filepath.Join(d.Model, "model.safetensors")
	old := time.Now().Add(-time.Hour)
	os.Chtimes(weights, old, old)
	d2, err := ExtractDemo(assets.Demo, cache)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(weights); d2.Dir != d.Dir || !st.ModTime().Equal(old) {
		t.Error("the demo was written again although a complete copy exists")
	}
	// A damaged copy is replaced.
	os.WriteFile(weights, []byte("broken"), 0o644)
	if _, err := ExtractDemo(assets.Demo, cache); err != nil {
		t.Fatal(err)
	}
	if _, err := Inspect(d.Model); err != nil {
		t.Errorf("damaged demo not repaired: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(cache, ".demo-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary folders left: %v", leftovers)
	}
}

func TestDemoDatasetLoads(t *testing.T) {
	d := extractDemo(t)
	st, err := InspectDataset(d.Data, d.Model, d.Config, 2)
	if err != nil {
		t.Fatal(err)
	}
	if st.Format != "prompt-completion" || len(st.Bad) != 0 || st.TrainExamples == 0 || st.ValExamples == 0 || st.Truncated != 0 {
		t.Errorf("demo dataset: format %s, %d bad, %d/%d rows, %d truncated", st.Format, len(st.Bad), st.TrainExamples, st.ValExamples, st.Truncated)
	}
}
