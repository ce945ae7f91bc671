// Package gl will implement compute.Backend with OpenGL 4.3 compute shaders
// (github.com/go-gl/gl v4.3-core) on a headless EGL context owned by a
// dedicated, OS-thread-locked goroutine. Until it exists, the app uses the
// CPU backend.
package gl
