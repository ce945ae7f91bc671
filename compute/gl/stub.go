//go:build !cgo || !linux

package gl

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/fynetune/fynetune/compute"
)

// ErrUnavailable is wrapped by the errors of New that mean this machine
// (or this build) offers no OpenGL 4.3 compute context.
var ErrUnavailable = errors.New("no OpenGL 4.3 compute context")

// Backend is the OpenGL compute backend. This build has none: New always
// fails, saying why.
type Backend struct {
	compute.Backend
}

// New reports why this build has no OpenGL compute backend.
func New() (*Backend, error) {
	switch {
	case runtime.GOOS == "darwin":
		return nil, fmt.Errorf("gl: %w: OpenGL 4.1 on macOS has no compute shaders", ErrUnavailable)
	case runtime.GOOS != "linux":
		return nil, fmt.Errorf("gl: %w: the OpenGL compute backend is only built for Linux (EGL) so far", ErrUnavailable)
	default:
		return nil, fmt.Errorf("gl: %w: this fynetune was built without cgo, which the OpenGL backend needs", ErrUnavailable)
	}
}

// NewContext reports, whatever the context asked for, why this build has
// no OpenGL compute backend.
func NewContext(kind Context) (*Backend, error) { return New() }

// ContextKind is empty: there is no context.
func (b *Backend) ContextKind() Context { return "" }

// Close does nothing.
func (b *Backend) Close() {}

// SelfTest reports that there is no backend to test.
func (b *Backend) SelfTest() error { return errors.New("gl: no OpenGL backend in this build") }

// Renderer is empty: there is no device.
func (b *Backend) Renderer() string { return "" }

// Version is empty: there is no driver.
func (b *Backend) Version() string { return "" }

// Display is empty: there is no EGL display or GLFW window.
func (b *Backend) Display() string { return "" }

// IsSoftware reports false: there is no device.
func (b *Backend) IsSoftware() bool { return false }

// Finish does nothing.
func (b *Backend) Finish() {}

// Profile returns "": there is nothing to profile.
func (b *Backend) Profile() string { return "" }
