package cpu

import (
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu/gemm"
	"github.com/fynetune/fynetune/internal/hugepage"
	"github.com/nlpodyssey/spago/mat"
	"golang.org/x/sys/cpu"
)

// Backend is the CPU compute backend. Make one with New.
type Backend struct {
	threads int
	pool    *pool

	// scratch[p] is the float32 scratch of part p of a parallel operation;
	// scratch64[p] its float64 counterpart. Both are grown, never shrunk.
	scratch   [][]float32
	scratch64 [][]float64
	rows64    []float64 // per-row values reduced after a parallel pass

	rope ropeTable

	// Argument blocks of the parallel operations. They live in the backend
	// so that handing one to the pool (as an interface holding a pointer)
	// does not allocate.
	lnFwd  layerNormTask
	lnBwd  layerNormBackTask
	rmsFwd rmsNormTask
	rmsBwd rmsNormBackTask
	ropeT  ropeTask
	attF   attentionTask
	attB   attentionBackTask
	flashF flashTask
	flashB flashBackTask
	ceT    crossEntropyTask
	unaryT elementwiseTask
	biasT  biasTask

	// products with compact (quantized or 16-bit) weights, see quant.go
	quant quantState
}

// Option configures a Backend made by New.
type Option func(*Backend)

// WithThreads sets how many goroutines the non-GEMM operations may use
// (default runtime.GOMAXPROCS(0)). Values below 1 mean 1. The matrix
// products have their own, process-wide setting: gemm.SetThreads.
func WithThreads(n int) Option {
	return func(b *Backend) { b.threads = max(n, 1) }
}

// New returns a CPU backend.
func New(opts ...Option) *Backend {
	b := &Backend{threads: runtime.GOMAXPROCS(0)}
	for _, o := range opts {
		o(b)
	}
	b.pool = newPool(b.threads)
	b.scratch = make([][]float32, b.threads)
	b.scratch64 = make([][]float64, b.threads)
	// The workers only reference the pool, so the backend can be collected;
	// when it is, stop them.
	runtime.AddCleanup(b, func(p *pool) { p.close() }, b.pool)
	return b
}

// Threads is the number of goroutines the backend's own operations use.
func (b *Backend) Threads() int { return b.threads }

// Name says which backend this is and what the CPU offers, e.g.
// "cpu (AVX2+FMA, 2 threads)".
func (b *Backend) Name() string {
	t := "threads"
	if b.threads == 1 {
		t = "thread"
	}
	return fmt.Sprintf("cpu (%s, %d %s)", cpuFeatures(), b.threads, t)
}

// cpuFeatures names the vector extensions of this CPU that matter for the
// kernels.
func cpuFeatures() string {
	switch runtime.GOARCH {
	case "amd64", "386":
		var f []string
		switch {
		case cpu.X86.HasAVX512F:
			f = append(f, "AVX-512")
		case cpu.X86.HasAVX2:
			f = append(f, "AVX2")
		case cpu.X86.HasAVX:
			f = append(f, "AVX")
		default:
			f = append(f, "SSE2")
		}
		if cpu.X86.HasFMA {
			f = append(f, "FMA")
		}
		return strings.Join(f, "+")
	case "arm64":
		if cpu.ARM64.HasASIMDHP {
			return "NEON+FP16"
		}
		return "NEON"
	default:
		return runtime.GOARCH
	}
}

// denseOf returns the spago matrix that wraps t's data as a vector. Tensors
// made by NewTensor carry it in Dev; any other tensor (a view) gets one on
// its first use, stored in its Dev.
func denseOf(t *compute.Tensor) *mat.Dense[float32] {
	if d, ok := t.Dev.(*mat.Dense[float32]); ok {
		dd := mat.Data[float32](d)
		if len(dd) == len(t.Data) && (len(dd) == 0 || unsafe.SliceData(dd) == unsafe.SliceData(t.Data)) {
			return d
		}
	}
	// A view (RowView, View) shares its parent's wrapper, which covers other
	// elements.
	d := wrap(t.Data)
	t.Dev = d
	return d
}

func wrap(data []float32) *mat.Dense[float32] {
	if len(data) == 0 {
		return mat.NewDense[float32](mat.WithShape(0))
	}
	return mat.NewDense[float32](mat.WithBacking(data), mat.WithShape(len(data)))
}

// NewTensor returns a zeroed tensor of the given shape.
func (b *Backend) NewTensor(shape ...int) *compute.Tensor {
	n := 1
	for i, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("cpu: NewTensor%v: dimension %d is negative", shape, i))
		}
		n *= d
	}
	data := hugepage.Make(n)
	return &compute.Tensor{Shape: append([]int(nil), shape...), Data: data, Dev: wrap(data)}
}

// Upload copies src into t.
func (b *Backend) Upload(t *compute.Tensor, src []float32) {
	d := data("Upload", "t", t)
	if len(src) != len(d) {
		panic(fmt.Sprintf("cpu: Upload: %d values for %v", len(src), t))
	}
	copy(d, src)
}

// Download copies t's values into dst.
func (b *Backend) Download(dst []float32, t *compute.Tensor) {
	d := data("Download", "t", t)
	if len(dst) != len(d) {
		panic(fmt.Sprintf("cpu: Download: room for %d values, %v has %d", len(dst), t, len(d)))
	}
	copy(dst, d)
}

// Zero sets every element of t to 0.
func (b *Backend) Zero(t *compute.Tensor) {
	clear(data("Zero", "t", t))
}

// PrepareWeight readies w for this backend. An F32 weight is packed once
// into the matrix kernels' layout (gemm.Packed, kept in w.Dev), in place
// when w.Own says F32 may be rearranged, so that no step packs it again;
// a Trainable one is used as it is. The compact formats (compute/quant) are
// checked against their shape and get their decoding view in w.Dev; a
// compact weight must be stored [Out, In] (Transposed false).
func (b *Backend) PrepareWeight(w *compute.Weight) {
	const op = "PrepareWeight"
	if w != nil && w.DType != compute.F32 {
		quantWeight(op, w)
		return
	}
	if w != nil && w.F32 == nil && packedWeight(op, w) != nil {
		return // packed in place already: F32 is gone
	}
	v := weightF32(op, w)
	if w.Trainable {
		w.Dev = nil
		return
	}
	rows, cols := w.StoredShape()
	w.Dev = gemm.Pack(v, rows, cols, w.Own)
	if w.Own {
		w.F32 = nil
	}
}

// packedWeight returns the packed form PrepareWeight gave w, or nil.
func packedWeight(op string, w *compute.Weight) *gemm.Packed {
	p, ok := w.Dev.(*gemm.Packed)
	if !ok {
		return nil
	}
	rows, cols := w.StoredShape()
	if p.Rows() != rows || p.Cols() != cols {
		panic(fmt.Sprintf("cpu: %s: weight %q is [%d %d] but was packed as [%d %d]", op, w.Name, rows, cols, p.Rows(), p.Cols()))
	}
	return p
}

// data returns t's values, checking that t is a usable CPU tensor.
func data(op, arg string, t *compute.Tensor) []float32 {
	if t == nil {
		panic(fmt.Sprintf("cpu: %s: %s is nil", op, arg))
	}
	n := t.Len()
	if t.Data == nil && n > 0 {
		panic(fmt.Sprintf("cpu: %s: %s %v has no host data (not made by the cpu backend)", op, arg, t))
	}
	if len(t.Data) != n {
		panic(fmt.Sprintf("cpu: %s: %s %v holds %d values, want %d", op, arg, t, len(t.Data), n))
	}
	return t.Data
}

// optData is data for an optional argument: nil stays nil.
func optData(op, arg string, t *compute.Tensor) []float32 {
	if t == nil {
		return nil
	}
	return data(op, arg, t)
}

// weightF32 returns w's float32 values in their stored layout.
func weightF32(op string, w *compute.Weight) []float32 {
	if w == nil {
		panic(fmt.Sprintf("cpu: %s: weight is nil", op))
	}
	if w.DType != compute.F32 {
		panic(fmt.Sprintf("cpu: %s: weight %q: dtype %v has no float32 values", op, w.Name, w.DType))
	}
	if w.Out < 0 || w.In < 0 || len(w.F32) != w.Out*w.In {
		panic(fmt.Sprintf("cpu: %s: weight %q: %d values for shape [%d %d]", op, w.Name, len(w.F32), w.Out, w.In))
	}
	return w.F32
}

// mustShape checks that t is a rows×cols matrix.
func mustShape(op, arg string, t *compute.Tensor, rows, cols int) {
	if t.Rows() != rows || t.Cols() != cols {
		panic(fmt.Sprintf("cpu: %s: %s is %v (%d×%d), want %d×%d", op, arg, t, t.Rows(), t.Cols(), rows, cols))
	}
}

// mustLen checks that t holds n elements.
func mustLen(op, arg string, t *compute.Tensor, n int) {
	if t.Len() != n {
		panic(fmt.Sprintf("cpu: %s: %s is %v (%d elements), want %d elements", op, arg, t, t.Len(), n))
	}
}

// scratchF32 returns part p's float32 scratch of at least n elements.
func (b *Backend) scratchF32(p, n int) []float32 {
	if len(b.scratch[p]) < n {
		b.scratch[p] = make([]float32, n)
	}
	return b.scratch[p][:n]
}

// growScratch makes sure parts 0..parts-1 each have n float32 of scratch.
// It runs before a parallel pass, on the calling goroutine.
func (b *Backend) growScratch(parts, n int) {
	for p := range parts {
		b.scratchF32(p, n)
	}
}

// growScratch64 makes sure parts 0..parts-1 each have n float64 of scratch.
func (b *Backend) growScratch64(parts, n int) {
	for p := range parts {
		if len(b.scratch64[p]) < n {
			b.scratch64[p] = make([]float64, n)
		}
	}
}

// rowBuf returns the per-row float64 buffer of at least n elements.
func (b *Backend) rowBuf(n int) []float64 {
	if len(b.rows64) < n {
		b.rows64 = make([]float64, n)
	}
	return b.rows64[:n]
}

var _ compute.Backend = (*Backend)(nil)
