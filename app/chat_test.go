package app

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fynetune/fynetune/model"
)

// trainDemoAdapter fine-tunes the demo for a few steps and returns the run.
func trainDemoAdapter(t *testing.T, d *Demo, steps int) string {
	t.Helper()
	cfg := d.Config
	cfg.Out = filepath.Join(t.TempDir(), "run")
	cfg.Steps, cfg.Backend, cfg.EvalEvery, cfg.SaveEvery = steps, "cpu", 0, 0
	j := NewJob(cfg)
	if err := j.Start(); err != nil {
		t.Fatal(err)
	}
	res, err := j.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return res.Adapter
}

func TestChatBaseAndAdapter(t *testing.T) {
	d := extractDemo(t)
	adapter := trainDemoAdapter(t, d, 60)
	c, err := OpenChat(d.Model, "cpu", 16)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opt := model.SampleOptions{MaxTokens: 24, StopAtEOS: true}
	ask := func(prompt string, with bool) string {
		t.Helper()
		var streamed strings.Builder
		out, err := c.Generate(context.Background(), PromptRaw, prompt, with, opt, func(s string) bool {
			streamed.WriteString(s)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if streamed.String() != out {
			t.Errorf("streamed %q, returned %q", streamed.String(), out)
		}
		return out
	}
	q := d.Prompts[0] // "Q: What color is the grass?\nA:"
	base := ask(q, false)
	if !strings.Contains(base, "green") {
		t.Errorf("the demo model answers %q to %q", base, q)
	}
	if _, err := c.Generate(context.Background(), PromptRaw, q, true, opt, nil); err == nil {
		t.Error("generating with an adapter before one is loaded succeeded")
	}
	if err := c.SetAdapter(adapter); err != nil {
		t.Fatal(err)
	}
	tuned := ask(q, true)
	if !strings.Contains(tuned, "matey") {
		t.Errorf("with the pirate adapter the demo answers %q", tuned)
	}
	// The base is unchanged by the adapter session (it was not reloaded,
	// only detached).
	if again := ask(q, false); again != base {
		t.Errorf("base answer %q after using the adapter, %q before", again, base)
	}
	if err := c.SetAdapter(""); err != nil || c.AdapterDir() != "" {
		t.Errorf("SetAdapter(\"\"): %v, %q", err, c.AdapterDir())
	}
}

func TestChatPromptIDs(t *testing.T) {
	d := extractDemo(t)
	m, err := OpenModel(d.Model, "cpu", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tests := []struct {
		format     string
		wantSuffix string
		wantErr    bool
	}{
		{PromptRaw, "Q: hi\nA:", false},
		{"auto", "Q: hi\nA:", false}, // the demo has no chat template
		{"chatml", "<|im_start|>assistant\n", false},
		{"plain", "### Response:\n", false},
		{"model", "", true},
		{"bogus", "", true},
	}
	for _, tc := range tests {
		ids, err := ChatPromptIDs(m, tc.format, "Q: hi\nA:")
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: error %v", tc.format, err)
			continue
		}
		if err != nil {
			continue
		}
		if s := m.Tok.Decode(ids); !strings.HasSuffix(s, tc.wantSuffix) || !strings.Contains(s, "hi") {
			t.Errorf("%s: prompt %q, want it to end with %q", tc.format, s, tc.wantSuffix)
		}
	}
}
