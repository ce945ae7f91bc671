// Package app is the workbench without widgets: it opens models, runs jobs,
// keeps settings and run records, and exposes everything the window and the
// command line both do. The ui package and the CLI are two faces over it.
package app

import (
	"fmt"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
)

// Backends lists the values NewBackend accepts.
var Backends = []string{"auto", "cpu", "gpu"}

// NewBackend returns the compute backend for a setting: "auto", "cpu" or
// "gpu". The OpenGL backend is not built yet, so "auto" means the CPU and
// "gpu" is an error that says so.
func NewBackend(name string) (compute.Backend, error) {
	switch name {
	case "", "auto", "cpu":
		return cpu.New(), nil
	case "gpu":
		return nil, fmt.Errorf("backend gpu: the OpenGL compute backend is not available in this build; use --backend cpu")
	}
	return nil, fmt.Errorf("unknown backend %q (want auto, cpu or gpu)", name)
}
