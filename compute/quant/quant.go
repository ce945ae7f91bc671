package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/fynetune/fynetune/compute"
)

// Block sizes of the block formats.
const (
	NF4Block  = 64 // values per NF4 block
	Q8Block   = 64 // values per int8 blockwise-absmax block
	Q8_0Block = 32 // values per GGML Q8_0 block
	Q4_0Block = 32 // values per GGML Q4_0 block

	// DoubleQuantGroup is the number of NF4 block scales that share one
	// second-level scale under double quantization.
	DoubleQuantGroup = 256
)

// Bytes per block of the block formats (scales included).
const (
	q8BlockBytes   = 4 + Q8Block
	q8_0BlockBytes = 2 + Q8_0Block
	q4_0BlockBytes = 2 + Q4_0Block/2
	nf4CodeBytes   = NF4Block / 2
)

// Option changes how Quantize and Bytes treat a format.
type Option func(*options)

type options struct {
	noDouble   bool
	transposed bool
}

// DoubleQuant turns NF4's double quantization of the block scales on (the
// default) or off. Other formats ignore it.
func DoubleQuant(on bool) Option {
	return func(o *options) { o.noDouble = !on }
}

// Transposed tells Quantize that src holds the matrix transposed: the
// rows×cols matrix is stored as cols×rows row-major (GPT-2's Conv1D
// weights, [In, Out]). The payload is that of the rows×cols matrix.
func Transposed() Option {
	return func(o *options) { o.transposed = true }
}

func collect(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return o
}

// BlockSize is the number of consecutive values of a row that share a
// scale in format dt: 64 for NF4 and Q8, 32 for Q8_0 and Q4_0, 1 for the
// float formats.
func BlockSize(dt compute.DType) int {
	switch dt {
	case compute.F32, compute.F16, compute.BF16:
		return 1
	case compute.NF4:
		return NF4Block
	case compute.Q8:
		return Q8Block
	case compute.Q8_0:
		return Q8_0Block
	case compute.Q4_0:
		return Q4_0Block
	}
	panic(fmt.Sprintf("quant: unknown dtype %v", dt))
}

// Bytes is the size of the payload of a rows×cols matrix in format dt (see
// the package documentation for the layouts). For NF4 it counts double
// quantization unless DoubleQuant(false) is given. It panics on an unknown
// dtype or a negative dimension.
func Bytes(dt compute.DType, rows, cols int, opts ...Option) int {
	checkShape("Bytes", rows, cols)
	bs := BlockSize(dt)
	n := rows * ceilDiv(cols, bs) // blocks (values, for the float formats)
	switch dt {
	case compute.F32:
		return 4 * n
	case compute.F16, compute.BF16:
		return 2 * n
	case compute.NF4:
		if collect(opts).noDouble {
			return n*nf4CodeBytes + 4*n
		}
		return nf4DoubleBytes(n)
	case compute.Q8:
		return n * q8BlockBytes
	case compute.Q8_0:
		return n * q8_0BlockBytes
	default: // Q4_0
		return n * q4_0BlockBytes
	}
}

// nf4DoubleBytes is the size of an NF4 payload of n blocks with double
// quantization: codes, one int8 per block, a float32 per group, the offset.
func nf4DoubleBytes(n int) int {
	return n*nf4CodeBytes + n + 4*ceilDiv(n, DoubleQuantGroup) + 4
}

// BytesPerParam is Bytes(dt, rows, cols, opts...) divided by rows·cols.
func BytesPerParam(dt compute.DType, rows, cols int, opts ...Option) float64 {
	return float64(Bytes(dt, rows, cols, opts...)) / float64(rows*cols)
}

// Quantize stores the rows×cols matrix src in format dt and returns the
// payload (Bytes(dt, rows, cols, opts...) bytes). src is row-major, or the
// matrix transposed (cols×rows row-major) with the Transposed option. Large
// matrices are quantized by several goroutines; the result does not depend
// on how many. It panics when len(src) != rows·cols or dt is unknown: both
// are programming errors.
func Quantize(dt compute.DType, src []float32, rows, cols int, opts ...Option) []byte {
	checkShape("Quantize", rows, cols)
	if len(src) != rows*cols {
		panic(fmt.Sprintf("quant: Quantize(%v): %d values for a %d×%d matrix", dt, len(src), rows, cols))
	}
	q := newQuantizer(dt, rows, cols, opts)
	forRows(rows, cols, func(r0, r1 int) {
		if !q.o.transposed {
			q.quantizeRows(r0, r1, func(r int) []float32 { return src[r*cols : (r+1)*cols] })
			return
		}
		buf := make([]float32, cols)
		q.quantizeRows(r0, r1, func(r int) []float32 {
			for j := range buf {
				buf[j] = src[j*rows+r]
			}
			return buf
		})
	})
	return q.finish()
}

// QuantizeFrom is Quantize for a matrix that never exists whole in full
// precision: fill writes rows [r0, r1) (row-major) into buf, and is called
// for consecutive ranges of at most chunkRows rows, in order. The payload
// is the same as Quantize of the whole matrix. The Transposed option is not
// supported (a column of a transposed source spans every chunk).
func QuantizeFrom(dt compute.DType, rows, cols, chunkRows int, fill func(r0, r1 int, buf []float32), opts ...Option) []byte {
	checkShape("QuantizeFrom", rows, cols)
	q := newQuantizer(dt, rows, cols, opts)
	if q.o.transposed {
		panic("quant: QuantizeFrom: transposed sources are not supported")
	}
	chunkRows = max(1, min(chunkRows, rows))
	buf := make([]float32, chunkRows*cols)
	for c0 := 0; c0 < rows; c0 += chunkRows {
		c1 := min(c0+chunkRows, rows)
		chunk := buf[:(c1-c0)*cols]
		fill(c0, c1, chunk)
		forRows(c1-c0, cols, func(r0, r1 int) {
			q.quantizeRows(c0+r0, c0+r1, func(r int) []float32 { return chunk[(r-c0)*cols : (r-c0+1)*cols] })
		})
	}
	return q.finish()
}

// quantizer holds a payload being filled row by row.
type quantizer struct {
	dt         compute.DType
	rows, cols int
	o          options
	dst        []byte
	bs, nb     int
	absmax     []float32 // NF4: the scale of every block, stored at the end
}

func newQuantizer(dt compute.DType, rows, cols int, opts []Option) *quantizer {
	q := &quantizer{dt: dt, rows: rows, cols: cols, o: collect(opts), dst: make([]byte, Bytes(dt, rows, cols, opts...)), bs: BlockSize(dt)}
	q.nb = ceilDiv(cols, q.bs)
	if dt == compute.NF4 {
		q.absmax = make([]float32, rows*q.nb)
	}
	return q
}

// quantizeRows quantizes rows [r0, r1), row r given by rowOf(r). Disjoint ranges
// may run concurrently.
func (q *quantizer) quantizeRows(r0, r1 int, rowOf func(r int) []float32) {
	dt, dst, cols, bs, nb, absmax := q.dt, q.dst, q.cols, q.bs, q.nb, q.absmax
	var pad [64]float32
	for r := r0; r < r1; r++ {
		row := rowOf(r)
		switch dt {
		case compute.F32:
			out := dst[4*r*cols:]
			for j, v := range row {
				putF32(out[4*j:], v)
			}
		case compute.F16:
			out := dst[2*r*cols:]
			for j, v := range row {
				binary.LittleEndian.PutUint16(out[2*j:], F32ToF16(v))
			}
		case compute.BF16:
			out := dst[2*r*cols:]
			for j, v := range row {
				binary.LittleEndian.PutUint16(out[2*j:], F32ToBF16(v))
			}
		default:
			for b := range nb {
				x := row[b*bs : min((b+1)*bs, cols)]
				if len(x) < bs { // the last block of the row: pad with zeros
					clear(pad[:bs])
					copy(pad[:], x)
					x = pad[:bs]
				}
				k := r*nb + b
				switch dt {
				case compute.NF4:
					absmax[k] = quantizeNF4Block(dst[k*nf4CodeBytes:(k+1)*nf4CodeBytes], x)
				case compute.Q8:
					quantizeQ8Block(dst[k*q8BlockBytes:(k+1)*q8BlockBytes], x)
				case compute.Q8_0:
					quantizeQ8_0Block(dst[k*q8_0BlockBytes:(k+1)*q8_0BlockBytes], x)
				default:
					quantizeQ4_0Block(dst[k*q4_0BlockBytes:(k+1)*q4_0BlockBytes], x)
				}
			}
		}
	}
}

// finish stores NF4's scales (double quantized unless turned off) and
// returns the payload.
func (q *quantizer) finish() []byte {
	if q.dt == compute.NF4 {
		scales := q.dst[len(q.absmax)*nf4CodeBytes:]
		if q.o.noDouble {
			for k, a := range q.absmax {
				putF32(scales[4*k:], a)
			}
		} else {
			doubleQuantize(scales, q.absmax)
		}
	}
	return q.dst
}

// Dequantize decodes the payload raw of a rows×cols matrix in format dt
// into dst (rows·cols values, row-major). It reports a payload whose size
// does not match the shape, or a dst of the wrong length.
func Dequantize(dt compute.DType, dst []float32, raw []byte, rows, cols int) error {
	m, err := NewMatrix(dt, raw, rows, cols)
	if err != nil {
		return err
	}
	if len(dst) != rows*cols {
		return fmt.Errorf("quant: Dequantize(%v): room for %d values, a %d×%d matrix has %d", dt, len(dst), rows, cols, rows*cols)
	}
	forRows(rows, cols, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			m.DecodeRow(dst[r*cols:(r+1)*cols], r, 0)
		}
	})
	return nil
}

func checkShape(op string, rows, cols int) {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("quant: %s: negative shape %d×%d", op, rows, cols))
	}
}

// forRows runs fn over [0, rows) cut into contiguous ranges, on several
// goroutines when the matrix is large.
func forRows(rows, cols int, fn func(r0, r1 int)) {
	parts := min(runtime.GOMAXPROCS(0), rows, rows*cols/(1<<16))
	if parts <= 1 {
		fn(0, rows)
		return
	}
	var wg sync.WaitGroup
	for p := range parts {
		r0, r1 := p*rows/parts, (p+1)*rows/parts
		wg.Go(func() { fn(r0, r1) })
	}
	wg.Wait()
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func getF32(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }

func putF32(b []byte, v float32) { binary.LittleEndian.PutUint32(b, math.Float32bits(v)) }

// roundHalfAway rounds to the nearest integer, halves away from zero (C's
// roundf).
func roundHalfAway(x float32) float32 { return float32(math.Round(float64(x))) }

// quantizeQ8Block codes one block of 64 values as int8 blockwise absmax.
func quantizeQ8Block(dst []byte, x []float32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	putF32(dst, amax)
	q := dst[4 : 4+Q8Block]
	if amax == 0 {
		clear(q)
		return
	}
	for j, v := range x {
		t := float32(v/amax) * 127
		q[j] = byte(int8(roundHalfAway(t)))
	}
}

// quantizeQ8_0Block is llama.cpp's quantize_row_q8_0_ref for one block.
func quantizeQ8_0Block(dst []byte, x []float32) {
	var amax float32
	for _, v := range x {
		if a := abs32(v); !(amax > a) { // MAX(amax, fabsf(v))
			amax = a
		}
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(dst, F32ToF16(d))
	for j, v := range x {
		dst[2+j] = byte(int8(roundHalfAway(float32(v * id))))
	}
}

// quantizeQ4_0Block is llama.cpp's quantize_row_q4_0_ref for one block.
func quantizeQ4_0Block(dst []byte, x []float32) {
	var amax, maxv float32
	for _, v := range x {
		if a := abs32(v); amax < a {
			amax, maxv = a, v
		}
	}
	d := maxv / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(dst, F32ToF16(d))
	const half = Q4_0Block / 2
	for j := range half {
		x0 := float32(x[j] * id)
		x1 := float32(x[half+j] * id)
		xi0 := min(15, int8(float32(x0+8.5)))
		xi1 := min(15, int8(float32(x1+8.5)))
		dst[2+j] = byte(xi0) | byte(xi1)<<4
	}
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }
