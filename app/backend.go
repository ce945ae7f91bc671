// Package app is the workbench without widgets: it opens models, runs jobs,
// keeps settings and run records, and exposes everything the window and the
// command line both do. The ui package and the CLI are two faces over it.
package app

import (
	"fmt"
	"os"
	"sync"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/compute/gl"
)

// Backends lists the values NewBackend accepts.
var Backends = []string{"auto", "cpu", "gpu"}

// The OpenGL backend is made once per process and shared: it owns a GL
// context and an OS thread, and its self-test needs to run only once.
var (
	gpuOnce    sync.Once
	gpuBackend *gl.Backend
	gpuErr     error // why there is no usable GPU backend
	gpuSoft    bool  // the only OpenGL is a software renderer
	noticeOnce sync.Once
)

// openGPU makes the shared OpenGL backend and self-tests it.
func openGPU() {
	gpuOnce.Do(func() {
		b, err := gl.New()
		if err != nil {
			gpuErr = err
			return
		}
		if err := b.SelfTest(); err != nil {
			b.Close()
			gpuErr = err
			return
		}
		gpuBackend, gpuSoft = b, b.IsSoftware()
	})
}

// ChooseBackend returns the compute backend for a setting:
//   - "cpu": the CPU backend;
//   - "gpu": the OpenGL 4.3 compute backend, or an error saying why there
//     is none (no EGL display, OpenGL older than 4.3, a failed self-test);
//   - "auto" (or ""): the GPU backend when a hardware GPU offers OpenGL 4.3
//     compute shaders and passes a quick self-test (a small matmul and a
//     reduction checked against the host), else the CPU backend, with note
//     saying why the GPU is not used. A software renderer (Mesa's
//     llvmpipe) is not chosen by auto: it is slower than the CPU backend.
func ChooseBackend(name string) (be compute.Backend, note string, err error) {
	switch name {
	case "cpu":
		return cpu.New(), "", nil
	case "gpu":
		openGPU()
		if gpuErr != nil {
			return nil, "", fmt.Errorf("backend gpu: %v (use --backend cpu or auto)", gpuErr)
		}
		return gpuBackend, "", nil
	case "", "auto":
		openGPU()
		switch {
		case gpuErr != nil:
			return cpu.New(), fmt.Sprintf("using the CPU backend: %v", gpuErr), nil
		case gpuSoft:
			return cpu.New(), fmt.Sprintf("using the CPU backend: the only OpenGL here is the software renderer %s (--backend gpu uses it anyway)",
				gpuBackend.Renderer()), nil
		}
		return gpuBackend, "", nil
	}
	return nil, "", fmt.Errorf("unknown backend %q (want auto, cpu or gpu)", name)
}

// NewBackend is ChooseBackend for callers that do not show the note
// themselves: when "auto" falls back to the CPU, the reason is printed on
// standard error, once per process.
func NewBackend(name string) (compute.Backend, error) {
	be, note, err := ChooseBackend(name)
	if note != "" {
		noticeOnce.Do(func() { fmt.Fprintln(os.Stderr, "fynetune: "+note) })
	}
	return be, err
}
