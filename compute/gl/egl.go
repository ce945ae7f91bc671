//go:build cgo && linux

package gl

/*
#cgo pkg-config: egl
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef EGL_PLATFORM_SURFACELESS_MESA
#define EGL_PLATFORM_SURFACELESS_MESA 0x31DD
#endif
#ifndef EGL_PLATFORM_DEVICE_EXT
#define EGL_PLATFORM_DEVICE_EXT 0x313F
#endif
#ifndef EGL_NO_CONFIG_KHR
#define EGL_NO_CONFIG_KHR ((EGLConfig)0)
#endif

typedef EGLDisplay (*fyGetPlatformDisplay)(EGLenum, void *, const EGLint *);
typedef EGLBoolean (*fyQueryDevices)(EGLint, EGLDeviceEXT *, EGLint *);
typedef const char *(*fyQueryDeviceString)(EGLDeviceEXT, EGLint);

// fyHas reports whether the space-separated extension list exts holds name.
static int fyHas(const char *exts, const char *name) {
	if (exts == NULL) return 0;
	size_t n = strlen(name);
	const char *p = exts;
	while ((p = strstr(p, name)) != NULL) {
		if ((p == exts || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
		p += n;
	}
	return 0;
}

// fyAppend adds a line to the error report buf.
static void fyAppend(char *buf, int len, const char *what, const char *why) {
	size_t used = strlen(buf);
	if ((int)used >= len - 1) return;
	snprintf(buf + used, len - used, "%s%s: %s (EGL error 0x%04x)", used ? "; " : "", what, why, eglGetError());
}

// fyTry initializes dpy and makes a desktop OpenGL 4.3 core context current
// on it, without a surface when the display allows it. On success it
// returns 1 and fills *ctx and *surf (EGL_NO_SURFACE when surfaceless); on
// failure it terminates dpy, appends the reason to err and returns 0.
static int fyTry(EGLDisplay dpy, const char *what, EGLContext *ctx, EGLSurface *surf, char *err, int errlen) {
	EGLint major, minor;
	if (dpy == EGL_NO_DISPLAY) {
		fyAppend(err, errlen, what, "no display (is an EGL driver installed, Mesa's libegl-mesa0 or NVIDIA's?)");
		return 0;
	}
	if (!eglInitialize(dpy, &major, &minor)) {
		fyAppend(err, errlen, what, "eglInitialize failed");
		return 0;
	}
	const char *apis = eglQueryString(dpy, EGL_CLIENT_APIS);
	if (apis == NULL || strstr(apis, "OpenGL") == NULL || !eglBindAPI(EGL_OPENGL_API)) {
		fyAppend(err, errlen, what, "desktop OpenGL is not offered (only OpenGL ES?)");
		eglTerminate(dpy);
		return 0;
	}
	const char *exts = eglQueryString(dpy, EGL_EXTENSIONS);
	int surfaceless = fyHas(exts, "EGL_KHR_surfaceless_context");
	EGLConfig cfg = EGL_NO_CONFIG_KHR;
	if (!fyHas(exts, "EGL_KHR_no_config_context") || !surfaceless) {
		EGLint attrs[] = {EGL_SURFACE_TYPE, EGL_PBUFFER_BIT, EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_NONE};
		EGLint n = 0;
		if (!eglChooseConfig(dpy, attrs, &cfg, 1, &n) || n < 1) {
			fyAppend(err, errlen, what, "no EGL config for desktop OpenGL");
			eglTerminate(dpy);
			return 0;
		}
	}
	EGLint cattrs[] = {
		EGL_CONTEXT_MAJOR_VERSION, 4,
		EGL_CONTEXT_MINOR_VERSION, 3,
		EGL_CONTEXT_OPENGL_PROFILE_MASK, EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT,
		EGL_NONE,
	};
	EGLContext c = eglCreateContext(dpy, cfg, EGL_NO_CONTEXT, cattrs);
	if (c == EGL_NO_CONTEXT) {
		fyAppend(err, errlen, what, "no OpenGL 4.3 core context (the driver offers an older OpenGL)");
		eglTerminate(dpy);
		return 0;
	}
	EGLSurface s = EGL_NO_SURFACE;
	if (!surfaceless) {
		EGLint pattrs[] = {EGL_WIDTH, 1, EGL_HEIGHT, 1, EGL_NONE};
		s = eglCreatePbufferSurface(dpy, cfg, pattrs);
		if (s == EGL_NO_SURFACE) {
			fyAppend(err, errlen, what, "no pbuffer surface");
			eglDestroyContext(dpy, c);
			eglTerminate(dpy);
			return 0;
		}
	}
	if (!eglMakeCurrent(dpy, s, s, c)) {
		fyAppend(err, errlen, what, "eglMakeCurrent failed");
		if (s != EGL_NO_SURFACE) eglDestroySurface(dpy, s);
		eglDestroyContext(dpy, c);
		eglTerminate(dpy);
		return 0;
	}
	*ctx = c;
	*surf = s;
	return 1;
}

// fyOpen makes an OpenGL 4.3 core context current on the calling thread. It
// tries, in order: EGL devices exposing EGL_NV_device_cuda (NVIDIA GPUs),
// the Mesa surfaceless platform, other hardware EGL devices, software EGL
// devices, and the default display. It returns 1 on success, with the
// display, context, surface and a description of the choice; else 0 with
// the reasons in err.
static int fyOpen(EGLDisplay *dpy, EGLContext *ctx, EGLSurface *surf, char *desc, int desclen, char *err, int errlen) {
	err[0] = 0;
	const char *cexts = eglQueryString(EGL_NO_DISPLAY, EGL_EXTENSIONS);
	fyGetPlatformDisplay getPlatformDisplay = NULL;
	if (fyHas(cexts, "EGL_EXT_platform_base")) {
		getPlatformDisplay = (fyGetPlatformDisplay)eglGetProcAddress("eglGetPlatformDisplayEXT");
	}
	EGLDeviceEXT devs[16];
	EGLint ndev = 0;
	fyQueryDeviceString queryDeviceString = NULL;
	if (getPlatformDisplay != NULL && fyHas(cexts, "EGL_EXT_platform_device")) {
		fyQueryDevices queryDevices = (fyQueryDevices)eglGetProcAddress("eglQueryDevicesEXT");
		queryDeviceString = (fyQueryDeviceString)eglGetProcAddress("eglQueryDeviceStringEXT");
		if (queryDevices == NULL || queryDeviceString == NULL || !queryDevices(16, devs, &ndev)) {
			ndev = 0;
		}
	}
	// pass 0: CUDA devices; 1: surfaceless Mesa; 2: other hardware devices;
	// 3: software devices; 4: the default display.
	for (int pass = 0; pass < 5; pass++) {
		if (pass == 1) {
			if (getPlatformDisplay != NULL && fyHas(cexts, "EGL_MESA_platform_surfaceless")) {
				EGLDisplay d = getPlatformDisplay(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, NULL);
				if (fyTry(d, "Mesa surfaceless platform", ctx, surf, err, errlen)) {
					*dpy = d;
					snprintf(desc, desclen, "EGL Mesa surfaceless");
					return 1;
				}
			}
			continue;
		}
		if (pass == 4) {
			EGLDisplay d = eglGetDisplay(EGL_DEFAULT_DISPLAY);
			if (fyTry(d, "default EGL display", ctx, surf, err, errlen)) {
				*dpy = d;
				snprintf(desc, desclen, "EGL default display");
				return 1;
			}
			continue;
		}
		for (EGLint i = 0; i < ndev; i++) {
			const char *dexts = queryDeviceString(devs[i], EGL_EXTENSIONS);
			int cuda = fyHas(dexts, "EGL_NV_device_cuda");
			int soft = fyHas(dexts, "EGL_MESA_device_software");
			if ((pass == 0 && !cuda) || (pass == 2 && (cuda || soft)) || (pass == 3 && !soft)) continue;
			char what[64];
			snprintf(what, sizeof what, "EGL device %d%s", (int)i, cuda ? " (CUDA)" : soft ? " (software)" : "");
			EGLDisplay d = getPlatformDisplay(EGL_PLATFORM_DEVICE_EXT, devs[i], NULL);
			if (fyTry(d, what, ctx, surf, err, errlen)) {
				*dpy = d;
				snprintf(desc, desclen, "%s", what);
				return 1;
			}
		}
	}
	if (err[0] == 0) {
		snprintf(err, errlen, "no EGL display (is libEGL with a driver, e.g. Mesa's libegl-mesa0 or NVIDIA's, installed?)");
	}
	return 0;
}

static void fyClose(EGLDisplay dpy, EGLContext ctx, EGLSurface surf) {
	eglMakeCurrent(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
	if (surf != EGL_NO_SURFACE) eglDestroySurface(dpy, surf);
	eglDestroyContext(dpy, ctx);
	eglReleaseThread();
}

static void *fyProc(const char *name) { return (void *)eglGetProcAddress(name); }
*/
import "C"

import (
	"errors"
	"unsafe"
)

// eglContext is an EGL display and the OpenGL context made current on the
// thread that opened it.
type eglContext struct {
	dpy  C.EGLDisplay
	ctx  C.EGLContext
	surf C.EGLSurface
	desc string // which display was chosen
}

// openEGL makes a desktop OpenGL 4.3 core context current on the calling OS
// thread, which must stay locked to its goroutine.
func openEGL() (*eglContext, error) {
	var e eglContext
	desc := make([]byte, 128)
	msg := make([]byte, 2048)
	ok := C.fyOpen(&e.dpy, &e.ctx, &e.surf, (*C.char)(unsafe.Pointer(&desc[0])), C.int(len(desc)),
		(*C.char)(unsafe.Pointer(&msg[0])), C.int(len(msg)))
	if ok == 0 {
		return nil, errors.New("EGL: " + cstr(msg))
	}
	e.desc = cstr(desc)
	return &e, nil
}

// close releases the context; call it on the thread that opened it.
func (e *eglContext) close() {
	C.fyClose(e.dpy, e.ctx, e.surf)
}

// describe says which EGL display or device the context was made on.
func (e *eglContext) describe() string { return e.desc }

// proc is eglGetProcAddress, for gl.InitWithProcAddrFunc.
func (e *eglContext) proc(name string) unsafe.Pointer {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return C.fyProc(cs)
}

func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
