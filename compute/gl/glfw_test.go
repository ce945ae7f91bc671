//go:build cgo && linux

package gl_test

import (
	"bufio"
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/compute/gl"
	"github.com/go-gl/glfw/v3.3/glfw"
)

// xDisplay returns an X display for a GLFW window: an Xvfb of the test's
// own when Xvfb is installed (stopped when the test ends), else $DISPLAY.
// With neither the test is skipped, except under CI (CI=true), where it
// fails.
func xDisplay(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("Xvfb")
	if err != nil {
		if d := os.Getenv("DISPLAY"); d != "" {
			return d
		}
		msg := "neither Xvfb nor a display (DISPLAY) for the GLFW context: install xvfb (make deps does)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// -displayfd: Xvfb picks a free display and writes its number to fd 3
	// once it accepts connections.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(path, "-displayfd", "3", "-screen", "0", "64x64x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		w.Close()
		t.Fatalf("starting Xvfb: %v", err)
	}
	w.Close()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	num := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		num <- strings.TrimSpace(line)
	}()
	select {
	case n := <-num:
		if n == "" {
			t.Fatalf("Xvfb did not start: %s", stderr.String())
		}
		return ":" + n
	case <-time.After(30 * time.Second):
		t.Fatalf("Xvfb gave no display in 30 s: %s", stderr.String())
	}
	return ""
}

// TestGLFWContext forces the last-resort context, a hidden GLFW window,
// on a display of the test's own, and checks that the backend says so,
// passes its self-test and multiplies matrices as the CPU backend does.
func TestGLFWContext(t *testing.T) {
	t.Setenv("DISPLAY", xDisplay(t))
	t.Setenv(gl.ContextEnv, "glfw")
	b, err := gl.New()
	if err != nil {
		t.Fatalf("no backend on a hidden GLFW window: %v", err)
	}
	t.Cleanup(b.Close) // before Xvfb stops
	t.Logf("backend: %s on %s", b.Name(), b.Display())
	if b.ContextKind() != gl.ContextGLFW || !strings.Contains(b.Name(), "via GLFW") || !strings.Contains(b.Display(), "GLFW") {
		t.Errorf("context kind %q, name %q, display %q: want the GLFW context named", b.ContextKind(), b.Name(), b.Display())
	}
	if err := b.SelfTest(); err != nil {
		t.Fatal(err)
	}
	c := cpu.New()
	want, got := glfwProducts(c), glfwProducts(b)
	for i := range want {
		if e := relDiff(got[i], want[i]); !(e <= 1e-5) {
			t.Errorf("product %d: GL through GLFW differs from the CPU by %.3g relative", i, e)
		}
	}
}

// glfwProducts runs a few products, plain and transposed, on be.
func glfwProducts(be compute.Backend) [][]float32 {
	m := &maker{be, rand.New(rand.NewPCG(5, 6))}
	a, bm := m.randn(37, 53), m.randn(29, 53)
	ab := m.randn(37, 29)
	be.MatMul(ab, a, bm, false, true, 1, 0.5) // a·bmᵀ + 0.5·ab
	ata := be.NewTensor(53, 53)
	be.MatMul(ata, a, a, true, false, 0.25, 0) // aᵀ·a/4
	w := m.weight(29, 53, false)
	y := be.NewTensor(37, 29)
	be.Linear(y, a, w, nil)
	return [][]float32{get(be, ab), get(be, ata), get(be, y)}
}

// TestContextChoice checks the errors of the context choice that need no
// display: an unknown $FYNETUNE_GL_CONTEXT, and the GLFW context without
// a display, which is a missing context (ErrUnavailable).
func TestContextChoice(t *testing.T) {
	t.Setenv(gl.ContextEnv, "vulkan")
	if _, err := gl.New(); err == nil || errors.Is(err, gl.ErrUnavailable) || !strings.Contains(err.Error(), gl.ContextEnv) {
		t.Errorf("%s=vulkan: got error %v, want one naming the variable", gl.ContextEnv, err)
	}
	t.Setenv("DISPLAY", "")
	if b, err := gl.NewContext(gl.ContextGLFW); err == nil {
		b.Close()
		t.Error("a GLFW context without a display: no error")
	} else if !errors.Is(err, gl.ErrUnavailable) || !strings.Contains(err.Error(), "DISPLAY") {
		t.Errorf("a GLFW context without a display: %v, want ErrUnavailable naming DISPLAY", err)
	}
}

// TestGLFWMainThread sets the main-thread hook, as the GUI does, and
// checks that GLFW's initialization, the window's creation and its
// destruction run through it (on a thread of the test's, standing in for
// Fyne's) while the backend computes on its own thread.
func TestGLFWMainThread(t *testing.T) {
	t.Setenv("DISPLAY", xDisplay(t))
	calls := make(chan func())
	ran := make(chan struct{}, 16)
	go func() {
		runtime.LockOSThread()
		for f := range calls {
			f()
		}
	}()
	run := func(f func()) {
		done := make(chan struct{})
		calls <- func() {
			f()
			ran <- struct{}{}
			close(done)
		}
		<-done
	}
	gl.SetMainThread(run)
	t.Cleanup(func() {
		gl.SetMainThread(nil)
		run(glfw.Terminate) // GLFW is ours here, not a GUI's
		close(calls)
	})
	b, err := gl.NewContext(gl.ContextGLFW)
	if err != nil {
		t.Fatalf("no backend on a hidden GLFW window: %v", err)
	}
	if n := len(ran); n != 1 {
		t.Fatalf("%d calls through the main-thread hook while opening, want 1", n)
	}
	<-ran
	if err := b.SelfTest(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	b.Close()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the hidden window was not destroyed through the main-thread hook")
	}
}
