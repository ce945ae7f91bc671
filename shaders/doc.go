// Package shaders embeds the GLSL 4.30 compute shader sources of the OpenGL
// backend, one file per op family, with #define variants instead of
// specialization constants.
package shaders
