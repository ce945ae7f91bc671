package gl

import (
	"fmt"
	"os"
	"strings"
	"sync"
)

// Context names the way the backend gets its OpenGL 4.3 core context.
type Context string

const (
	// ContextAuto tries EGL first and falls back to a hidden GLFW window
	// when EGL gives no OpenGL 4.3 core context with working compute
	// shaders.
	ContextAuto Context = "auto"
	// ContextEGL makes a headless context through EGL only: the surfaceless
	// platform on Mesa, EGL_EXT_platform_device on NVIDIA.
	ContextEGL Context = "egl"
	// ContextGLFW makes the context of a hidden 1×1 GLFW window (GLX on
	// X11), the last resort where EGL offers no desktop OpenGL 4.3. It
	// needs a display (DISPLAY).
	ContextGLFW Context = "glfw"
)

// ContextEnv is the environment variable that New reads to choose the
// context: "egl", "glfw" or "auto" (the default when it is unset or empty).
const ContextEnv = "FYNETUNE_GL_CONTEXT"

// contextFromEnv returns the context kind $FYNETUNE_GL_CONTEXT asks for.
func contextFromEnv() (Context, error) {
	v := strings.ToLower(strings.TrimSpace(os.Getenv(ContextEnv)))
	switch Context(v) {
	case "", ContextAuto:
		return ContextAuto, nil
	case ContextEGL, ContextGLFW:
		return Context(v), nil
	}
	return "", fmt.Errorf("gl: %s=%q: want egl, glfw or auto", ContextEnv, v)
}

var (
	mainMu  sync.Mutex
	mainRun func(func())
)

// SetMainThread gives the backend a way to run a function on the
// program's main thread and wait for it; the GUI sets it (to
// fyne.DoAndWait) before it makes a backend. GLFW wants its
// initialization and the creation and destruction of windows on the main
// thread, so when New falls back to a hidden GLFW window it does those
// through run; the window's context itself is only ever made current on
// the backend's own thread, never on the main one. Without run (the
// command line), they are done on the backend's thread, which X11 allows,
// and the backend terminates GLFW when its last window closes; with run
// set, GLFW belongs to the GUI and the backend never terminates it.
//
// New must not be called on the thread run executes on when it may take
// the GLFW path: it waits for the backend's thread, which waits for run.
// SetMainThread(nil) removes the hook.
func SetMainThread(run func(func())) {
	mainMu.Lock()
	mainRun = run
	mainMu.Unlock()
}

// mainThread returns the hook SetMainThread set, or nil.
func mainThread() func(func()) {
	mainMu.Lock()
	defer mainMu.Unlock()
	return mainRun
}
