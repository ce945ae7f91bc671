//go:build cgo && linux

package gl

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/go-gl/glfw/v3.3/glfw"
)

// glfwState is what the backends know of the process's GLFW library,
// which Fyne's window shares.
var glfwState struct {
	mu      sync.Mutex
	windows int  // hidden windows of ours that are open
	ownInit bool // we initialised GLFW, without a main-thread hook: terminate it with our last window
}

// glfwContext is the OpenGL context of a hidden 1×1 GLFW window, current
// on the backend's thread only.
type glfwContext struct {
	win    *glfw.Window
	run    func(func()) // runs Init, CreateWindow and Destroy
	hooked bool         // run is SetMainThread's hook
	desc   string
}

// glfwCall runs f and returns its error, or the panic of the glfw package
// (it panics on the errors it considers programming errors) as one.
func glfwCall(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return f()
}

// glfwInitialized reports whether GLFW is initialised, by Fyne or by us:
// glfwGetTime fails (and the glfw package panics) when it is not.
func glfwInitialized() bool {
	return glfwCall(func() error { glfw.GetTime(); return nil }) == nil
}

// openGLFW creates a hidden 1×1 window with an OpenGL 4.3 core context and
// makes the context current on the calling OS thread, which must stay
// locked to its goroutine. GLFW's initialization and the window's creation
// run through SetMainThread's hook when it is set, else on this thread.
func openGLFW() (*glfwContext, error) {
	display := os.Getenv("DISPLAY")
	if display == "" {
		return nil, errors.New("GLFW: no display for a hidden window (DISPLAY is not set)")
	}
	g := &glfwContext{run: mainThread(), desc: "GLFW hidden window on X11 display " + display + " (GLX)"}
	g.hooked = g.run != nil
	if !g.hooked {
		g.run = func(f func()) { f() }
	}
	var err error
	g.run(func() {
		err = glfwCall(func() error {
			glfwState.mu.Lock()
			defer glfwState.mu.Unlock()
			if !glfwInitialized() {
				// glfw.Init returns nil on an X11 failure (the glfw package
				// logs those): look again.
				if err := glfw.Init(); err != nil {
					return err
				}
				if !glfwInitialized() {
					return fmt.Errorf("glfw.Init failed on display %s (see the message above)", display)
				}
				glfwState.ownInit = !g.hooked
			}
			// Window hints are global: set ours, and leave the defaults
			// behind for Fyne's next window.
			glfw.DefaultWindowHints()
			defer glfw.DefaultWindowHints()
			glfw.WindowHint(glfw.Visible, glfw.False)
			glfw.WindowHint(glfw.ClientAPI, glfw.OpenGLAPI)
			glfw.WindowHint(glfw.ContextCreationAPI, glfw.NativeContextAPI)
			glfw.WindowHint(glfw.ContextVersionMajor, 4)
			glfw.WindowHint(glfw.ContextVersionMinor, 3)
			glfw.WindowHint(glfw.OpenGLProfile, glfw.OpenGLCoreProfile)
			glfw.WindowHint(glfw.OpenGLForwardCompatible, glfw.True)
			w, err := glfw.CreateWindow(1, 1, "fynetune compute", nil, nil)
			if err == nil && w == nil {
				err = errors.New("window creation failed (see the message above)")
			}
			if err != nil {
				g.terminateIfLast()
				return fmt.Errorf("no hidden window with an OpenGL 4.3 core context on display %s: %v", display, err)
			}
			g.win = w
			glfwState.windows++
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("GLFW: %v", err)
	}
	if err := glfwCall(func() error { g.win.MakeContextCurrent(); return nil }); err != nil {
		g.destroy()
		return nil, fmt.Errorf("GLFW: making the hidden window's context current: %v", err)
	}
	return g, nil
}

// describe says which window and display the context was made on.
func (g *glfwContext) describe() string { return g.desc }

// proc is glfwGetProcAddress, for gl.InitWithProcAddrFunc (the context is
// current on the calling thread).
func (g *glfwContext) proc(name string) unsafe.Pointer { return glfw.GetProcAddress(name) }

// close lets go of the context on the backend's thread and destroys the
// window. Through the main-thread hook that happens later, on the main
// thread: Close may be waiting on that thread for this one to finish.
func (g *glfwContext) close() {
	glfwCall(func() error { glfw.DetachCurrentContext(); return nil })
	if g.hooked {
		go g.destroy()
		return
	}
	g.destroy()
}

// destroy destroys the window through run and terminates GLFW after our
// last window when we initialised it.
func (g *glfwContext) destroy() {
	g.run(func() {
		glfwCall(func() error {
			glfwState.mu.Lock()
			defer glfwState.mu.Unlock()
			g.win.Destroy()
			glfwState.windows--
			g.terminateIfLast()
			return nil
		})
	})
}

// terminateIfLast terminates GLFW when we initialised it and no window of
// ours is left (glfwState.mu held). GLFW that Fyne (or anyone with the
// main-thread hook) initialised is never terminated here.
func (g *glfwContext) terminateIfLast() {
	if glfwState.windows == 0 && glfwState.ownInit {
		glfw.Terminate()
		glfwState.ownInit = false
	}
}
