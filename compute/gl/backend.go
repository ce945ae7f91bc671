//go:build cgo && linux

package gl

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/fynetune/fynetune/shaders"
	"github.com/go-gl/gl/v4.3-core/gl"
)

// Backend is the OpenGL 4.3 compute backend. Make one with New; it owns a
// headless EGL context on a goroutine locked to its OS thread, and every
// method runs its GL calls there. A Backend is safe for use by one
// goroutine at a time, like the CPU backend; concurrent calls are
// serialized.
type Backend struct {
	mu     sync.Mutex
	work   chan job
	reply  chan any
	closed bool
	failed any // what the first failed posted call panicked with (GL thread)

	renderer, version, vendor, display string
	maxBlock                           int // GL_MAX_SHADER_STORAGE_BLOCK_SIZE in bytes
	weightLimit                        int // weights larger than this are bound a range at a time (maxBlock)
	ssboAlign                          int // GL_SHADER_STORAGE_BUFFER_OFFSET_ALIGNMENT
	scoreLimit                         int // tests: cap on attention scores in scratch (0: none)
	debug                              bool
	profile                            map[string]*profEntry // per kernel, when profiling

	// Buffers whose Go handles were collected, returned to the pool (or
	// deleted) on the GL thread.
	freeMu  sync.Mutex
	pending []released

	// Everything below is touched on the GL thread only.
	ctx     glContext
	kind    Context       // ContextEGL or ContextGLFW: the kind ctx is
	done    chan struct{} // closed when the GL thread has let go of ctx
	pool    bufferPool
	ceWG    int // cross-entropy work-group size
	progs   map[string]*program
	scratch map[string]*scratchBuf
	rope    ropeCache
	info    gpuInfo
	tiles   [2]tileCfg // matmul tile shapes for small and large products

	// Buffers that commands issued since the last glFinish use: bound
	// to a dispatch, cleared, or copied to or from (see beforeSubData).
	inFlight map[uint32]struct{}
}

// job is a call to run on the GL thread; the caller waits for the calls
// with wait set (and gets their panic), not for the others.
type job struct {
	f    func()
	wait bool
}

// gpuInfo is what the GL thread queried at start-up.
type gpuInfo struct {
	maxGroupsX int
}

// buffer is a GL shader storage buffer: the Dev of a tensor and of its
// views, and of prepared weights.
type buffer struct {
	id    uint32
	bytes int // what the tensor or weight uses, checked against its views
	owner *Backend
}

// released is a buffer whose handle was collected: cap is its capacity in
// bytes when it came from the pool, 0 for a weight's buffer (deleted).
type released struct {
	id  uint32
	cap int
}

// scratchBuf is a buffer the backend reuses between calls, grown on demand
// (its bytes are its capacity, from the pool).
type scratchBuf struct {
	id    uint32
	bytes int
}

// glContext is the OpenGL context the GL thread made current: through EGL
// (egl.go) or a hidden GLFW window (glfw.go).
type glContext interface {
	// describe says which display or window the context was made on.
	describe() string
	// proc is the context's GetProcAddress, for gl.InitWithProcAddrFunc.
	proc(name string) unsafe.Pointer
	// close releases the context; call it on the thread that opened it.
	close()
}

// program is a linked compute program with its uniform locations.
type program struct {
	id    uint32
	name  string
	local [3]uint32
	locs  map[string]int32
}

var (
	initOnce sync.Once
	initErr  error
)

// ErrUnavailable is wrapped by the errors of New that mean this machine
// offers no OpenGL 4.3 compute context (as opposed to a context whose
// driver then fails).
var ErrUnavailable = errors.New("no OpenGL 4.3 compute context")

// New creates the OpenGL backend: it makes an OpenGL 4.3 core context on
// a new OS-thread-locked goroutine and checks that compute shaders work.
// The context is the one $FYNETUNE_GL_CONTEXT asks for (see ContextEnv
// and NewContext), by default a headless EGL context, else a hidden GLFW
// window. It returns an error that says why when no such context can be
// made (no EGL display, an OpenGL older than 4.3, ...). Call Close when
// done with it.
func New() (*Backend, error) {
	kind, err := contextFromEnv()
	if err != nil {
		return nil, err
	}
	return NewContext(kind)
}

// NewContext is New with the context given: ContextEGL or ContextGLFW
// only that way, ContextAuto EGL first and, when EGL gives no OpenGL 4.3
// core context with working compute shaders, a hidden GLFW window.
func NewContext(kind Context) (*Backend, error) {
	switch kind {
	case ContextEGL, ContextGLFW:
		return newBackend(kind)
	case ContextAuto, "":
	default:
		return nil, fmt.Errorf("gl: unknown context %q (want egl, glfw or auto)", kind)
	}
	b, errEGL := newBackend(ContextEGL)
	if errEGL == nil {
		return b, nil
	}
	b, errGLFW := newBackend(ContextGLFW)
	if errGLFW == nil {
		return b, nil
	}
	// Wrap the failure that is more than a missing context, EGL's first.
	why := strings.TrimPrefix(errGLFW.Error(), "gl: "+ErrUnavailable.Error()+": ")
	if errors.Is(errEGL, ErrUnavailable) && !errors.Is(errGLFW, ErrUnavailable) {
		return nil, fmt.Errorf("%w (EGL: %v)", errGLFW, errEGL)
	}
	return nil, fmt.Errorf("%w; %s", errEGL, why)
}

// newBackend makes a backend on a context of the given kind.
func newBackend(kind Context) (*Backend, error) {
	b := &Backend{
		work:    make(chan job, 256),
		reply:   make(chan any),
		kind:    kind,
		done:    make(chan struct{}),
		pool:    bufferPool{limit: poolLimit},
		ceWG:    ceWorkGroup,
		progs:   map[string]*program{},
		scratch: map[string]*scratchBuf{},
		debug:   os.Getenv("FYNETUNE_GL_DEBUG") != "",
	}
	if os.Getenv("FYNETUNE_GL_PROFILE") != "" {
		b.profile = map[string]*profEntry{}
	}
	started := make(chan error)
	go b.loop(started)
	if err := <-started; err != nil {
		return nil, err
	}
	// A kernel must compile and run: catches drivers that advertise 4.3 but
	// fail at the first compute shader.
	if err := b.try(func() { b.program("elementwise.glsl", "OP_ADD") }); err != nil {
		b.Close()
		return nil, fmt.Errorf("gl: %s: compute shaders do not work: %v", b.Name(), err)
	}
	return b, nil
}

// openContext makes a context of the given kind current on the calling OS
// thread, which must stay locked to its goroutine.
func openContext(kind Context) (glContext, error) {
	if kind == ContextGLFW {
		return openGLFW()
	}
	e, err := openEGL()
	if err != nil {
		return nil, err
	}
	return e, nil
}

// loop is the GL goroutine: it opens the context, reports on started, then
// runs the closures sent on b.work until the channel is closed.
func (b *Backend) loop(started chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(b.done)
	c, err := openContext(b.kind)
	if err != nil {
		started <- fmt.Errorf("gl: %w: %v", ErrUnavailable, err)
		return
	}
	// The function pointers are process-wide: the first context loads
	// them. EGL's and GLX's loaders hand out the same dispatching entry
	// points (libglvnd's libGLdispatch, or Mesa's shared glapi), which
	// call into whichever context is current on the calling thread.
	initOnce.Do(func() { initErr = gl.InitWithProcAddrFunc(c.proc) })
	if initErr != nil {
		c.close()
		started <- fmt.Errorf("gl: %w: loading OpenGL 4.3 functions: %v is missing", ErrUnavailable, initErr)
		return
	}
	b.ctx = c
	b.display = c.describe()
	b.renderer = gl.GoStr(gl.GetString(gl.RENDERER))
	b.version = gl.GoStr(gl.GetString(gl.VERSION))
	b.vendor = gl.GoStr(gl.GetString(gl.VENDOR))
	var major, minor int32
	gl.GetIntegerv(gl.MAJOR_VERSION, &major)
	gl.GetIntegerv(gl.MINOR_VERSION, &minor)
	if major < 4 || major == 4 && minor < 3 {
		c.close()
		started <- fmt.Errorf("gl: %w: %s offers OpenGL %d.%d through %s, compute shaders need 4.3",
			ErrUnavailable, b.renderer, major, minor, b.kindName())
		return
	}
	var v int32
	gl.GetIntegeri_v(gl.MAX_COMPUTE_WORK_GROUP_COUNT, 0, &v)
	b.info.maxGroupsX = int(v)
	var blk int64
	gl.GetInteger64v(gl.MAX_SHADER_STORAGE_BLOCK_SIZE, &blk)
	b.maxBlock = int(min(blk, 1<<62))
	b.weightLimit = b.maxBlock
	gl.GetIntegerv(gl.SHADER_STORAGE_BUFFER_OFFSET_ALIGNMENT, &v)
	b.ssboAlign = max(int(v), 4)
	b.tiles = [2]tileCfg{gpuSmall, gpuLarge}
	if b.IsSoftware() {
		b.tiles = [2]tileCfg{softSmall, softLarge}
		b.ceWG = ceWorkGroupSoft
	}
	started <- nil
	for j := range b.work {
		p := b.run(j.f)
		if !j.wait {
			if p != nil && b.failed == nil {
				b.failed = p
			}
			continue
		}
		if p == nil && b.failed != nil {
			p = fmt.Sprintf("%v (in an earlier call)", b.failed)
		}
		b.failed = nil
		b.reply <- p
	}
	b.release()
	c.close()
}

// run calls f on the GL thread, returning what it panicked with (nil when
// it returned).
func (b *Backend) run(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	if b.debug {
		b.checkError("after a call")
	}
	return nil
}

// do runs f on the GL thread and waits for it; a panic in f, or in a call
// posted before it, is re-raised on the caller's goroutine.
func (b *Backend) do(f func()) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		panic("gl: the backend is closed")
	}
	b.queueDeletes()
	b.work <- job{f, true}
	p := <-b.reply
	b.mu.Unlock()
	if p != nil {
		panic(p)
	}
}

// post queues f for the GL thread without waiting: the operations that
// return nothing are posted, so the caller runs ahead while the GL thread
// issues commands (the GPU runs them asynchronously anyway). The arguments
// are checked before posting, so programming errors still panic in the
// caller; a failure on the GL thread (a driver error) panics at the next
// call that waits. f must not use memory the caller may change after
// post returns.
func (b *Backend) post(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		panic("gl: the backend is closed")
	}
	b.queueDeletes()
	b.work <- job{f, false}
}

// queueDeletes posts the release of the buffers whose handles were
// collected since the last call (b.mu held): back to the pool, or deleted.
// The jobs that use a buffer were all posted before its handle became
// unreachable, so they run before its release.
func (b *Backend) queueDeletes() {
	b.freeMu.Lock()
	rel := b.pending
	b.pending = nil
	b.freeMu.Unlock()
	if len(rel) > 0 {
		b.work <- job{func() { b.releaseBuffers(rel) }, false}
	}
}

// try is do returning a panic as an error.
func (b *Backend) try(f func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	b.do(f)
	return nil
}

// Close releases the GL context and every buffer, after the calls already
// queued have run; the backend must not be used afterwards. It is safe to
// call more than once.
func (b *Backend) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	close(b.work)
	b.mu.Unlock()
	<-b.done
}

// release deletes the backend's own GL objects (on the GL thread).
func (b *Backend) release() {
	for _, p := range b.progs {
		gl.DeleteProgram(p.id)
	}
	for _, s := range b.scratch {
		gl.DeleteBuffers(1, &s.id)
	}
	b.freePending()
	b.pool.drain()
}

// Name says which device and driver run the backend and through which
// context, e.g.
// "gpu (NVIDIA H100 80GB HBM3, OpenGL 4.6.0 NVIDIA 550.54.15, via EGL)".
func (b *Backend) Name() string {
	return fmt.Sprintf("gpu (%s, OpenGL %s, via %s)", b.renderer, b.version, b.kindName())
}

// ContextKind says how the backend got its context: ContextEGL or
// ContextGLFW.
func (b *Backend) ContextKind() Context { return b.kind }

// kindName is the context kind as Name shows it.
func (b *Backend) kindName() string { return strings.ToUpper(string(b.kind)) }

// Renderer is the GL_RENDERER string of the device.
func (b *Backend) Renderer() string { return b.renderer }

// Version is the GL_VERSION string of the driver.
func (b *Backend) Version() string { return b.version }

// Display says which EGL display or GLFW window the context was made on.
func (b *Backend) Display() string { return b.display }

// IsSoftware reports whether the device is a software rasterizer (Mesa's
// llvmpipe, softpipe or swrast).
func (b *Backend) IsSoftware() bool {
	r := strings.ToLower(b.renderer)
	return strings.Contains(r, "llvmpipe") || strings.Contains(r, "softpipe") || strings.Contains(r, "swrast")
}

// checkError panics with the pending GL errors, if any.
func (b *Backend) checkError(where string) {
	var errs []string
	for range 8 {
		e := gl.GetError()
		if e == gl.NO_ERROR {
			break
		}
		errs = append(errs, glErrorName(e))
	}
	if len(errs) > 0 {
		panic(fmt.Sprintf("gl: OpenGL error %s %s", strings.Join(errs, ", "), where))
	}
}

func glErrorName(e uint32) string {
	switch e {
	case gl.INVALID_ENUM:
		return "GL_INVALID_ENUM"
	case gl.INVALID_VALUE:
		return "GL_INVALID_VALUE"
	case gl.INVALID_OPERATION:
		return "GL_INVALID_OPERATION"
	case gl.OUT_OF_MEMORY:
		return "GL_OUT_OF_MEMORY"
	case gl.INVALID_FRAMEBUFFER_OPERATION:
		return "GL_INVALID_FRAMEBUFFER_OPERATION"
	}
	return fmt.Sprintf("0x%04x", e)
}

// ---------------------------------------------------------------- buffers

// newBuffer allocates a storage buffer of n bytes (at least 4) on the GL
// thread; what names the tensor or weight for error messages. A pooled
// buffer (a tensor's) comes from the pool and is zeroed; the others (a
// weight's, which PrepareWeight fills at once) have their exact size and
// undefined contents, so that uploading a weight does not wait for a
// clear (see beforeSubData).
func (b *Backend) newBuffer(n int, what string, pooled bool) *buffer {
	n = max(n, 4)
	c := 0
	if pooled {
		c = b.capacity(n)
	}
	id := b.takeBuffer(max(c, n), what)
	if pooled {
		zero := uint32(0)
		gl.BindBuffer(gl.SHADER_STORAGE_BUFFER, id)
		gl.ClearBufferSubData(gl.SHADER_STORAGE_BUFFER, gl.R32UI, 0, (n+3)/4*4, gl.RED_INTEGER, gl.UNSIGNED_INT, unsafe.Pointer(&zero))
		b.markUse(id)
	}
	buf := &buffer{id: id, bytes: n, owner: b}
	runtime.AddCleanup(buf, func(r released) { b.queueFree(r) }, released{id, c})
	return buf
}

// takeBuffer returns a buffer of n bytes (a capacity) from the pool, or a
// new one. A released buffer that commands issued since the last glFinish
// still use gets new storage first (orphaned, glBufferData without data):
// those commands keep the old storage, so nothing the new owner issues,
// a clear or an upload, can reach them (see beforeSubData).
func (b *Backend) takeBuffer(n int, what string) uint32 {
	id := b.pool.get(n, what)
	if _, ok := b.inFlight[id]; ok {
		gl.BindBuffer(gl.SHADER_STORAGE_BUFFER, id)
		gl.BufferData(gl.SHADER_STORAGE_BUFFER, n, nil, gl.DYNAMIC_DRAW)
		delete(b.inFlight, id)
	}
	return id
}

// markUse records that a command issued since the last glFinish uses
// buffer id: a dispatch it is bound to, a clear (glClearBuffer*Data) or a
// copy (glCopyBufferSubData) from or to it.
func (b *Backend) markUse(id uint32) {
	if b.inFlight == nil {
		b.inFlight = map[uint32]struct{}{}
	}
	b.inFlight[id] = struct{}{}
	if len(b.inFlight) > 1<<14 {
		// Many buffers and no upload to wait for: wait once rather than
		// let the set grow.
		b.finish()
	}
}

// beforeSubData must precede every glBufferSubData into buffer id. The
// NVIDIA driver (seen with 580.159 on an H200) does not order an upload
// into a buffer that queued commands still use with those commands or the
// ones after: the data of glBufferSubData overtook an earlier clear or
// copy into the same buffer, which then overwrote it (a tensor uploaded
// right after NewTensor read back as zeros), and an upload into a buffer
// that a queued dispatch still read landed only after the next dispatch
// had read the buffer (a gather saw the previous gather's ids). glFlush is
// not enough, so when a command issued since the last glFinish uses id,
// this waits for the GPU.
func (b *Backend) beforeSubData(id uint32) {
	if _, ok := b.inFlight[id]; ok {
		b.finish()
	}
}

// finish waits for the GPU to run every command issued so far (on the GL
// thread).
func (b *Backend) finish() {
	gl.Finish()
	clear(b.inFlight)
}

// queueFree is called by the garbage collector's cleanup of a buffer
// handle: the GL buffer goes back to the pool (or is deleted) on the GL
// thread after the calls already posted (see queueDeletes).
func (b *Backend) queueFree(r released) {
	b.freeMu.Lock()
	b.pending = append(b.pending, r)
	b.freeMu.Unlock()
}

// releaseBuffers returns pooled buffers to the pool and deletes the others
// (on the GL thread).
func (b *Backend) releaseBuffers(rel []released) {
	for _, r := range rel {
		if r.cap > 0 {
			b.pool.put(r.id, r.cap)
		} else {
			gl.DeleteBuffers(1, &r.id)
		}
	}
}

// freePending releases the buffers whose handles were collected and not
// yet released (on the GL thread, at Close).
func (b *Backend) freePending() {
	b.freeMu.Lock()
	rel := b.pending
	b.pending = nil
	b.freeMu.Unlock()
	b.releaseBuffers(rel)
}

// scratchBuffer returns the scratch buffer called name with at least n
// bytes, growing it as needed (on the GL thread). Its contents are
// undefined.
func (b *Backend) scratchBuffer(name string, n int) uint32 {
	n = max(n, 4)
	s := b.scratch[name]
	if s != nil && s.bytes >= n {
		return s.id
	}
	if n > b.maxBlock {
		panic(fmt.Sprintf("gl: scratch %s needs %d MiB, more than this driver binds to a shader (%d MiB)",
			name, n>>20, b.maxBlock>>20))
	}
	if s != nil {
		// The calls issued so far that use the old buffer run before
		// anything the pool hands it out for.
		b.pool.put(s.id, s.bytes)
	}
	// Grow by half again, so that slowly growing needs do not reallocate
	// every call.
	n = b.capacity(min(max(n, (s.size()*3)/2), b.maxBlock))
	s = &scratchBuf{id: b.takeBuffer(n, "scratch "+name), bytes: n}
	b.scratch[name] = s
	return s.id
}

func (s *scratchBuf) size() int {
	if s == nil {
		return 0
	}
	return s.bytes
}

// uploadInts copies vals into the scratch buffer name and returns it.
func (b *Backend) uploadInts(name string, vals []int32) uint32 {
	id := b.scratchBuffer(name, 4*len(vals))
	if len(vals) > 0 {
		b.uploadScratch(name, id, unsafe.Pointer(&vals[0]), 4*len(vals))
	}
	return id
}

// uploadFloats copies vals into the scratch buffer name and returns it.
func (b *Backend) uploadFloats(name string, vals []float32) uint32 {
	id := b.scratchBuffer(name, 4*len(vals))
	if len(vals) > 0 {
		b.uploadScratch(name, id, unsafe.Pointer(&vals[0]), 4*len(vals))
	}
	return id
}

// uploadScratch copies n bytes from p to the start of scratch buffer id
// (called name). When queued commands still use the buffer, its storage is
// first replaced (orphaned, glBufferData without data) instead of waiting
// for them (see beforeSubData): they keep the old storage, and the upload
// goes to storage nothing uses.
func (b *Backend) uploadScratch(name string, id uint32, p unsafe.Pointer, n int) {
	gl.BindBuffer(gl.SHADER_STORAGE_BUFFER, id)
	if _, ok := b.inFlight[id]; ok {
		gl.BufferData(gl.SHADER_STORAGE_BUFFER, b.scratch[name].bytes, nil, gl.DYNAMIC_DRAW)
		delete(b.inFlight, id)
	}
	gl.BufferSubData(gl.SHADER_STORAGE_BUFFER, 0, n, p)
}

// readFloats copies n floats from the start of buffer id.
func readFloats(id uint32, n int) []float32 {
	out := make([]float32, n)
	if n > 0 {
		gl.BindBuffer(gl.SHADER_STORAGE_BUFFER, id)
		gl.GetBufferSubData(gl.SHADER_STORAGE_BUFFER, 0, 4*n, unsafe.Pointer(&out[0]))
	}
	return out
}

// --------------------------------------------------------------- programs

// program returns the compiled kernel of shader file with the given
// defines ("NAME" or "NAME=VALUE"), compiling it at first use.
func (b *Backend) program(file string, defines ...string) *program {
	key := file + "|" + strings.Join(defines, "|")
	if p := b.progs[key]; p != nil {
		return p
	}
	src, err := shaders.Source(file)
	if err != nil {
		panic("gl: " + err.Error())
	}
	common, err := shaders.Source("common.glsl")
	if err != nil {
		panic("gl: " + err.Error())
	}
	var sb strings.Builder
	sb.WriteString("#version 430\n")
	for _, d := range defines {
		name, val, _ := strings.Cut(d, "=")
		fmt.Fprintf(&sb, "#define %s %s\n", name, val)
	}
	sb.WriteString("#line 1 1\n")
	sb.WriteString(common)
	for _, d := range defines {
		if strings.HasPrefix(d, "W_") {
			// A packed weight: its decoder.
			dq, err := shaders.Source("dequant.glsl")
			if err != nil {
				panic("gl: " + err.Error())
			}
			sb.WriteString("\n#line 1 3\n")
			sb.WriteString(dq)
			break
		}
	}
	sb.WriteString("\n#line 1 2\n")
	sb.WriteString(src)
	what := file
	if len(defines) > 0 {
		what += " [" + strings.Join(defines, " ") + "]"
	}

	sh := gl.CreateShader(gl.COMPUTE_SHADER)
	cs, free := gl.Strs(sb.String() + "\x00")
	gl.ShaderSource(sh, 1, cs, nil)
	free()
	gl.CompileShader(sh)
	var ok int32
	gl.GetShaderiv(sh, gl.COMPILE_STATUS, &ok)
	if ok == 0 {
		log := shaderLog(sh, false)
		gl.DeleteShader(sh)
		panic(fmt.Sprintf("gl: compiling %s (file 1 is common.glsl, 2 is %s, 3 dequant.glsl): %s", what, file, log))
	}
	id := gl.CreateProgram()
	gl.AttachShader(id, sh)
	gl.LinkProgram(id)
	gl.DeleteShader(sh)
	gl.GetProgramiv(id, gl.LINK_STATUS, &ok)
	if ok == 0 {
		log := shaderLog(id, true)
		gl.DeleteProgram(id)
		panic(fmt.Sprintf("gl: linking %s: %s", what, log))
	}
	p := &program{id: id, name: what, locs: map[string]int32{}}
	var ls [3]int32
	gl.GetProgramiv(id, gl.COMPUTE_WORK_GROUP_SIZE, &ls[0])
	p.local = [3]uint32{uint32(ls[0]), uint32(ls[1]), uint32(ls[2])}
	b.progs[key] = p
	return p
}

func shaderLog(id uint32, isProgram bool) string {
	var n int32
	if isProgram {
		gl.GetProgramiv(id, gl.INFO_LOG_LENGTH, &n)
	} else {
		gl.GetShaderiv(id, gl.INFO_LOG_LENGTH, &n)
	}
	if n <= 1 {
		return "(no log)"
	}
	buf := make([]byte, n)
	if isProgram {
		gl.GetProgramInfoLog(id, n, nil, &buf[0])
	} else {
		gl.GetShaderInfoLog(id, n, nil, &buf[0])
	}
	return strings.TrimSpace(cstr(buf))
}

func (p *program) loc(name string) int32 {
	l, ok := p.locs[name]
	if !ok {
		cs, free := gl.Strs(name + "\x00")
		l = gl.GetUniformLocation(p.id, *cs)
		free()
		p.locs[name] = l
	}
	return l
}

// args are the uniforms of one dispatch: uint and float values by name.
type args map[string]any

// bind is a buffer bound to a storage binding point: whole (size 0) or
// the range of size bytes from byte off (a multiple of the offset
// alignment).
type bind struct {
	id        uint32
	off, size int
}

// dispatch runs p over groups (x, y, z) with whole bufs bound to the
// storage binding points 0, 1, ... (0 leaves a point unbound) and the
// uniforms u, then orders its writes before later reads.
func (b *Backend) dispatch(p *program, gx, gy, gz int, u args, bufs ...uint32) {
	binds := make([]bind, len(bufs))
	for i, id := range bufs {
		binds[i] = bind{id: id}
	}
	b.dispatchB(p, gx, gy, gz, u, binds)
}

// dispatchB is dispatch with buffers that may be bound as ranges.
func (b *Backend) dispatchB(p *program, gx, gy, gz int, u args, binds []bind) {
	if gx == 0 || gy == 0 || gz == 0 {
		return
	}
	gl.UseProgram(p.id)
	for name, v := range u {
		l := p.loc(name)
		if l < 0 {
			continue // optimized away in this variant
		}
		switch x := v.(type) {
		case int:
			if x < 0 || x > 1<<32-1 {
				panic(fmt.Sprintf("gl: %s: uniform %s = %d does not fit a uint", p.name, name, x))
			}
			gl.Uniform1ui(l, uint32(x))
		case bool:
			var v uint32
			if x {
				v = 1
			}
			gl.Uniform1ui(l, v)
		case float32:
			gl.Uniform1f(l, x)
		case []float32:
			gl.Uniform1fv(l, int32(len(x)), &x[0])
		default:
			panic(fmt.Sprintf("gl: %s: uniform %s has unsupported type %T", p.name, name, v))
		}
	}
	for i, bd := range binds {
		if bd.id != 0 {
			b.markUse(bd.id)
		}
		switch {
		case bd.id == 0:
		case bd.size > 0:
			gl.BindBufferRange(gl.SHADER_STORAGE_BUFFER, uint32(i), bd.id, bd.off, bd.size)
		default:
			gl.BindBufferBase(gl.SHADER_STORAGE_BUFFER, uint32(i), bd.id)
		}
	}
	if b.debug {
		b.checkError(fmt.Sprintf("setting up %s (uniforms %v, buffers %v)", p.name, u, binds))
	}
	var t0 time.Time
	if b.profile != nil {
		gl.Finish()
		t0 = time.Now()
	}
	gl.DispatchCompute(uint32(gx), uint32(gy), uint32(gz))
	gl.MemoryBarrier(gl.SHADER_STORAGE_BARRIER_BIT | gl.BUFFER_UPDATE_BARRIER_BIT)
	if b.profile != nil {
		gl.Finish()
		e := b.profile[p.name]
		if e == nil {
			e = &profEntry{}
			b.profile[p.name] = e
		}
		e.n++
		e.t += time.Since(t0)
	}
	if b.debug {
		b.checkError("running " + p.name)
	}
}

// groups1D is the number of work groups of size local for a grid-stride
// loop over n elements.
func groups1D(n, local int) int {
	return min((n+local-1)/local, 4096)
}

// rowGrid spreads n one-row work groups over x and y.
func (b *Backend) rowGrid(n int) (int, int) {
	mx := min(b.info.maxGroupsX, 65535)
	if n <= mx {
		return n, 1
	}
	return mx, (n + mx - 1) / mx
}

// Finish waits until the GPU has run every command sent so far (for
// timing).
func (b *Backend) Finish() {
	b.do(b.finish)
}

// profEntry is the time spent in one kernel and its number of dispatches.
type profEntry struct {
	n int
	t time.Duration
}

// Profile returns, when the environment variable FYNETUNE_GL_PROFILE was
// set at New, a table of the GPU time spent in each kernel since the last
// call (every dispatch is then waited for, which slows everything down),
// the most expensive first; else "".
func (b *Backend) Profile() string {
	var out string
	b.do(func() {
		if b.profile == nil {
			return
		}
		type row struct {
			name string
			e    profEntry
		}
		var rows []row
		var total time.Duration
		for k, v := range b.profile {
			rows = append(rows, row{k, *v})
			total += v.t
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].e.t > rows[j].e.t })
		var sb strings.Builder
		fmt.Fprintf(&sb, "%10s %8s %10s  kernel (GPU time, total %v)\n", "ms", "calls", "us/call", total.Round(time.Millisecond))
		for _, r := range rows {
			fmt.Fprintf(&sb, "%10.1f %8d %10.1f  %s\n", float64(r.e.t)/1e6, r.e.n, float64(r.e.t)/1e3/float64(r.e.n), r.name)
		}
		out = sb.String()
		clear(b.profile)
	})
	return out
}
