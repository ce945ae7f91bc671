//go:build cgo && linux

package gl

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/quant"
)

// packWeight checks w and returns the bytes to upload for it with its
// GPU description (without the buffer). F32 weights go as they are; the
// compact formats keep their codes at their bit width and get one float32
// scale per block (see shaders/dequant.glsl).
func (b *Backend) packWeight(op string, w *compute.Weight) ([]byte, *weightDev) {
	if w == nil {
		panic(fmt.Sprintf("gl: %s: weight is nil", op))
	}
	if w.Out < 0 || w.In < 0 {
		panic(fmt.Sprintf("gl: %s: weight %q has a negative shape [%d %d]", op, w.Name, w.Out, w.In))
	}
	rows, cols := w.StoredShape()
	wd := &weightDev{dtype: w.DType, out: w.Out, in: w.In, trans: w.Transposed, rows: rows}
	if w.DType == compute.F32 {
		if len(w.F32) != w.Out*w.In {
			panic(fmt.Sprintf("gl: %s: weight %q: %d values for shape [%d %d]", op, w.Name, len(w.F32), w.Out, w.In))
		}
		wd.elem, wd.rowBytes = 4, 4*cols
		return f32Bytes(w.F32), wd
	}
	if w.Transposed {
		panic(fmt.Sprintf("gl: %s: weight %q: a %v weight must be stored [Out, In], not transposed (transpose Conv1D weights before quantizing them)",
			op, w.Name, w.DType))
	}
	m, err := quant.NewMatrix(w.DType, w.Raw, w.Out, w.In)
	if err != nil {
		panic(fmt.Sprintf("gl: %s: weight %q: %v", op, w.Name, err))
	}
	raw := w.Raw // stored [Out, In] (checked above): rows, cols = Out, In
	switch w.DType {
	case compute.F16, compute.BF16:
		wd.defines = []string{"W_F16"}
		if w.DType == compute.BF16 {
			wd.defines = []string{"W_BF16"}
		}
		wd.elem, wd.rowBytes = 2, 2*cols
		return pad4(raw), wd
	}
	bs := quant.BlockSize(w.DType)
	nb := (cols + bs - 1) / bs
	n := rows * nb
	var codes []byte
	scales := make([]float32, n)
	switch w.DType {
	case compute.NF4:
		wd.defines = []string{"W_NF4"}
		codes = raw[:n*bs/2]
		for k := range scales {
			scales[k] = m.NF4Absmax(k)
		}
	case compute.Q8:
		// blocks of a float32 absmax and 64 int8
		wd.defines = []string{"W_Q8", "QB=64u"}
		codes = make([]byte, n*bs)
		for k := range n {
			blk := raw[k*(4+bs) : (k+1)*(4+bs)]
			scales[k] = math.Float32frombits(binary.LittleEndian.Uint32(blk)) / 127
			copy(codes[k*bs:], blk[4:])
		}
	case compute.Q8_0, compute.Q4_0:
		// blocks of an f16 scale and 32 int8 (Q8_0) or 16 bytes of nibbles
		cb := bs
		wd.defines = []string{"W_Q8_0", "QB=32u"}
		if w.DType == compute.Q4_0 {
			cb = bs / 2
			wd.defines = []string{"W_Q4_0"}
		}
		codes = make([]byte, n*cb)
		for k := range n {
			blk := raw[k*(2+cb) : (k+1)*(2+cb)]
			scales[k] = quant.F16ToF32(binary.LittleEndian.Uint16(blk))
			copy(codes[k*cb:], blk[2:])
		}
	default:
		panic(fmt.Sprintf("gl: %s: weight %q: dtype %v is not supported by the gl backend", op, w.Name, w.DType))
	}
	out := pad4(codes)
	wd.nb, wd.scaleOff = nb, len(out)/4
	return append(out, f32Bytes(scales)...), wd
}

// pad4 returns b padded with zeros to a multiple of 4 bytes (a copy).
func pad4(b []byte) []byte {
	out := make([]byte, (len(b)+3)/4*4, (len(b)+3)/4*4+4)
	copy(out, b)
	return out
}

// f32Bytes views float32 values as bytes.
func f32Bytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}

// nf4Codebook is compute/quant's NF4 code values, for the shaders' uniform.
func nf4Codebook() []float32 {
	cb := quant.NF4Codebook()
	return cb[:]
}
