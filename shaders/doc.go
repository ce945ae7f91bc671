// Package shaders embeds the GLSL 4.30 compute shader sources of the OpenGL
// backend (compute/gl), one file per op family. Each file holds several
// kernels selected by #define (the backend prepends "#version 430", the
// defines and common.glsl), in place of specialization constants, which
// OpenGL 4.3 lacks.
//
// Conventions shared by every kernel: tensors are float32 std430 storage
// buffers bound whole; element offsets (for row views) and sizes are uniform
// uints; kernels that take one row per work group index rows as
// gl_WorkGroupID.y·gl_NumWorkGroups.x + gl_WorkGroupID.x, so more than 65535
// rows fit in a dispatch.
package shaders

import (
	"embed"
	"fmt"
)

//go:embed *.glsl
var files embed.FS

// Source returns the text of the shader file name (e.g. "matmul.glsl").
func Source(name string) (string, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("shaders: no shader %q: %w", name, err)
	}
	return string(b), nil
}

// Names lists the embedded shader files.
func Names() []string {
	ents, _ := files.ReadDir(".")
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
