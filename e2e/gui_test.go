// Package e2e holds the end-to-end test of the workbench window: the real
// binary, built with its OpenGL driver, under a virtual X server.
package e2e

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/fynetune/fynetune/internal/testenv"
)

// TestGUITrainsTheDemo builds fynetune, starts it under xvfb-run with the
// E2E script (open the demo, train a few steps through the Train pane,
// screenshot, stop with a checkpoint, quit) and checks the screenshot, the
// log and the run directory it left.
func TestGUITrainsTheDemo(t *testing.T) {
	xvfb, err := exec.LookPath("xvfb-run")
	if err != nil {
		msg := "xvfb-run not found: install xvfb (make deps does) to run the window end to end"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	root := testenv.RepoRoot()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "fynetune")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	const steps = 6
	shot := filepath.Join(t.ArtifactDir(), "window.png")
	runs := filepath.Join(tmp, "runs")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, xvfb, "-a", "-s", "-screen 0 1280x800x24", bin)
	cmd.Env = append(os.Environ(),
		"FYNETUNE_E2E=1", "FYNETUNE_E2E_STEPS="+strconv.Itoa(steps), "FYNETUNE_E2E_SCREENSHOT="+shot,
		"FYNETUNE_RUNS="+runs, "XDG_CACHE_HOME="+filepath.Join(tmp, "cache"),
		"XDG_CONFIG_HOME="+filepath.Join(tmp, "config"), "XDG_DATA_HOME="+filepath.Join(tmp, "data"))
	out, err := cmd.CombinedOutput()
	t.Logf("window log:\n%s", out)
	if err != nil {
		t.Fatalf("fynetune under xvfb-run: %v", err)
	}
	m := regexp.MustCompile(`e2e: step (\d+), state (\w+)`).FindSubmatch(out)
	if m == nil {
		t.Fatal("the window did not report training steps")
	}
	if n, _ := strconv.Atoi(string(m[1])); n < steps {
		t.Errorf("trained %d steps through the window, want at least %d", n, steps)
	}
	if !bytes.Contains(out, []byte("e2e: done, state stopped")) && !bytes.Contains(out, []byte("e2e: done, state done")) {
		t.Error("the run was not stopped with a checkpoint (or finished) before quitting")
	}

	// The screenshot: a real image of the window, not a blank frame.
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	if b := img.Bounds(); b.Dx() < 640 || b.Dy() < 400 {
		t.Errorf("screenshot is %dx%d, want at least 640x400", b.Dx(), b.Dy())
	}
	if n := colours(img); n < 50 {
		t.Errorf("screenshot has %d colours: blank or nearly so", n)
	}
	t.Logf("screenshot: %s", shot)

	// The run directory the window wrote: metrics and a checkpoint.
	dirs, _ := filepath.Glob(filepath.Join(runs, "*", "metrics.jsonl"))
	if len(dirs) != 1 {
		t.Fatalf("%d runs written, want 1", len(dirs))
	}
	ck, _ := filepath.Glob(filepath.Join(filepath.Dir(dirs[0]), "checkpoints", "step-*", "state.json"))
	if len(ck) == 0 {
		t.Error("no checkpoint in the run directory")
	}
}

// colours counts the distinct colours of an image (sampled every 2 pixels).
func colours(img image.Image) int {
	seen := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bb, a := img.At(x, y).RGBA()
			seen[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bb >> 8), uint8(a >> 8)}] = true
		}
	}
	return len(seen)
}
