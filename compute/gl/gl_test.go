package gl_test

import (
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/computetest"
	"github.com/fynetune/fynetune/compute/gl"
)

var (
	shared     *gl.Backend
	sharedErr  error
	sharedOnce sync.Once
)

// backend returns the package's GL backend, made once. Without an OpenGL
// 4.3 context the test is skipped, except under CI (CI=true), which
// installs Mesa and so must have one.
func backend(t testing.TB) *gl.Backend {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = gl.New() })
	if sharedErr != nil {
		if !errors.Is(sharedErr, gl.ErrUnavailable) {
			t.Fatalf("the OpenGL backend does not work: %v", sharedErr)
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("no OpenGL compute backend under CI: %v", sharedErr)
		}
		t.Skipf("no OpenGL 4.3 compute context here (%v); install Mesa (libegl-mesa0, libgl1-mesa-dri) to run this test", sharedErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	os.Exit(code)
}

func TestGLSuite(t *testing.T) {
	b := backend(t)
	t.Logf("backend: %s on %s", b.Name(), b.Display())
	computetest.RunSuite(t, func() compute.Backend { return b })
}
