package cli_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/internal/testenv"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/train"
)

// trainedAdapter writes a PEFT adapter for the model with random (non-zero)
// B matrices, as training would leave it.
func trainedAdapter(t *testing.T, modelDir string) string {
	t.Helper()
	m, err := model.Load(modelDir, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	set, err := train.Attach(m, train.LoraConfig{Targets: []string{"q_proj", "v_proj", "down_proj"}, Rank: 4, Alpha: 8}, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, l := range set.Mods {
		b := make([]float32, l.B.Len())
		for i := range b {
			b[i] = float32(rng.NormFloat64() * 0.02)
		}
		m.Be.Upload(l.B, b)
	}
	dir := filepath.Join(t.TempDir(), "run")
	if err := train.SaveAdapter(dir, set, m); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestExportCommand(t *testing.T) {
	modelDir := testenv.Fixture(t, "models", "stories260K")
	adapter := trainedAdapter(t, modelDir)
	out := filepath.Join(t.TempDir(), "gguf")
	code, stdout, stderr := run("export", "--model", modelDir, "--adapter", adapter, "--format", "gguf", "--quant", "q8_0", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"exported     gguf to " + out, "model-q8_0.gguf", "Modelfile", "adapter      15 LoRA modules", "verified", "max |Δlogit|", "note: 5 tensors have rows"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("output lacks %q:\n%s", w, stdout)
		}
	}
	code, stdout, stderr = run("inspect", "--model", filepath.Join(out, "model-q8_0.gguf"))
	if code != 0 || !strings.Contains(stdout, "format       gguf v3, model") || !strings.Contains(stdout, "layers       5") || !strings.Contains(stdout, "q8_0") {
		t.Errorf("inspect of the export: exit %d %s\n%s", code, stderr, stdout)
	}
	// the base model folder comes from the adapter's base_model_name_or_path
	out2 := filepath.Join(t.TempDir(), "peft")
	code, stdout, stderr = run("export", "--adapter", adapter, "--format", "peft", "--out", out2, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Format string `json:"format"`
		Verify struct {
			Passed bool    `json:"passed"`
			Max    float64 `json:"max_abs_logit_diff"`
		} `json:"verification"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Format != "peft" || !rep.Verify.Passed || rep.Verify.Max != 0 {
		t.Errorf("--json report %q (%v)", stdout, err)
	}
	if _, err := os.Stat(filepath.Join(out2, train.AdapterWeightsFile)); err != nil {
		t.Error(err)
	}
	code, stdout, _ = run("export", "--adapter", adapter, "--format", "merged", "--dtype", "bf16", "--out", filepath.Join(t.TempDir(), "m"), "--no-verify")
	if code != 0 || !strings.Contains(stdout, "verified     no (--no-verify)") || !strings.Contains(stdout, "tensors      bf16") {
		t.Errorf("--no-verify: exit %d\n%s", code, stdout)
	}
}

func TestExportCommandErrors(t *testing.T) {
	modelDir := testenv.Fixture(t, "models", "stories260K")
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), []byte("x"), 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export", "--model", modelDir, "--out", "x"}, 2, "missing --format"},
		{[]string{"export", "--model", modelDir, "--format", "gguf"}, 2, "missing --out"},
		{[]string{"export", "--model", modelDir, "--format", "onnx", "--out", "x"}, 2, `--format "onnx"`},
		{[]string{"export", "--model", modelDir, "--format", "peft", "--out", "x"}, 2, "needs --adapter"},
		{[]string{"export", "--format", "merged", "--out", "x"}, 2, "missing --model"},
		{[]string{"export", "--model", modelDir, "--format", "gguf", "--dtype", "f16", "--out", "x"}, 2, "--dtype applies"},
		{[]string{"export", "--model", modelDir, "--format", "merged", "--dtype", "f8", "--out", "x"}, 2, `--dtype "f8"`},
		{[]string{"export", "--model", modelDir, "--format", "gguf", "--quant", "q5_k", "--out", "x"}, 2, `--quant "q5_k"`},
		{[]string{"export", "--model", modelDir, "--format", "merged", "--quant", "q8_0", "--out", "x"}, 2, "--quant applies"},
		{[]string{"export", "--model", modelDir, "--format", "merged", "--out", full}, 1, "--force"},
		{[]string{"export", "--model", modelDir, "--adapter", full, "--format", "gguf-adapter", "--out", "x"}, 1, "adapter_config.json"},
		{[]string{"export", "--model", "/nonexistent", "--format", "gguf", "--out", filepath.Join(full, "y")}, 1, "/nonexistent"},
	}
	for _, c := range cases {
		code, out, errs := run(c.args...)
		if code != c.code || !strings.Contains(errs+out, c.want) {
			t.Errorf("%v: exit %d (want %d), output %q lacks %q", c.args[1:], code, c.code, errs, c.want)
		}
		if c.code == 1 && strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%v: failure message is not one line: %q", c.args, errs)
		}
	}
}

func TestInspectGGUFAdapter(t *testing.T) {
	modelDir := testenv.Fixture(t, "models", "stories260K")
	out := filepath.Join(t.TempDir(), "a")
	if code, _, errs := run("export", "--adapter", trainedAdapter(t, modelDir), "--format", "gguf-adapter", "--out", out); code != 0 {
		t.Fatalf("export: %s", errs)
	}
	code, stdout, errs := run("inspect", "--model", out)
	if code != 0 || !strings.Contains(stdout, "format       gguf v3, lora adapter (alpha 8), 30 tensors") || strings.Contains(stdout, "layers") {
		t.Errorf("inspect: exit %d %s\n%s", code, errs, stdout)
	}
}
