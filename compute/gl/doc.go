// Package gl implements compute.Backend with OpenGL 4.3 compute shaders
// (github.com/go-gl/gl v4.3-core), so that training runs on the GPU people
// have, whatever its vendor, without CUDA.
//
// New makes a headless context through EGL: on NVIDIA the EGL device that
// exposes EGL_NV_device_cuda (EGL_EXT_platform_device), on Mesa the
// surfaceless platform (EGL_MESA_platform_surfaceless), else another EGL
// device or the default display; the context is desktop OpenGL 4.3 core.
// When EGL gives no such context with working compute shaders, the last
// resort is the context of a hidden 1×1 GLFW window (GLX, on $DISPLAY),
// created through the main-thread hook the GUI sets with SetMainThread;
// FYNETUNE_GL_CONTEXT=egl|glfw|auto forces one way (NewContext). Name says
// which ("... via EGL"). The context lives on its own goroutine locked to
// its OS thread, and the backend never touches another context (Fyne
// keeps its own GL 2.1 context on the main thread). Every method checks its arguments on the caller's
// goroutine (a mismatch panics there, as with the CPU backend) and sends
// its GL calls to that thread: the operations that return nothing are
// queued without waiting, so the caller runs ahead of the GL thread as the
// GL thread runs ahead of the GPU; Download, CrossEntropy, SumSquares and
// the other calls that return something wait. A driver error in a queued
// call panics at the next call that waits.
//
// Tensors live in shader storage buffers (compute.Tensor.Dev holds the
// buffer, Off the element offset of a row view; Data stays nil); after its
// tensors are garbage collected and the calls queued before that have
// run, a buffer goes back to a pool kept by size class (four per power of
// two), from which NewTensor and the scratch buffers take theirs before
// asking the driver for new ones. Frozen weights are uploaded once by
// PrepareWeight, at their exact size, and again whenever it is called
// again: F32 as they are, F16 and BF16 as they are, and the block formats
// of compute/quant (int8, NF4, Q8_0, Q4_0) with their codes at their bit
// width and one float32 scale per block, dequantized by the matmul kernel
// while it loads its tiles. A weight
// larger than the driver binds to one shader (GL_MAX_SHADER_STORAGE_BLOCK_SIZE,
// 128 MiB on Mesa) is bound a range of rows at a time.
//
// The kernels are the GLSL sources of package shaders, except
// crossentropy.glsl, whose fixed version lives here for now (kernels.go).
// Results agree with the CPU backend within the shared suite's tolerance
// (compute/computetest): reductions are done in a fixed order (no float
// atomics), and the ones that return to the host (cross-entropy, sums of
// squares) are finished in float64 there. Set FYNETUNE_GL_DEBUG to check for GL errors after every
// call, and FYNETUNE_GL_PROFILE to time every kernel (see Profile).
//
// Without cgo, or on systems other than Linux, New returns an error that
// wraps ErrUnavailable and says why (macOS's OpenGL 4.1 has no compute
// shaders).
package gl
