package quant

import (
	"encoding/binary"
	"fmt"

	"github.com/fynetune/fynetune/compute"
)

// Matrix is a read-only view of a payload that decodes pieces of rows. Make
// one with NewMatrix; it keeps the payload, it does not copy it. Its methods
// are safe for concurrent use.
type Matrix struct {
	dtype      compute.DType
	rows, cols int
	raw        []byte
	nb         int // blocks per row (values per row for the float formats)

	// NF4 sections
	double bool
	codes  []byte  // 32 bytes per block
	scales []byte  // float32 absmax per block, or int8 per block when double
	groups []byte  // double: float32 per group of 256 blocks
	offset float32 // double: the mean absmax
}

// NewMatrix checks that raw is the payload of a rows×cols matrix in format
// dt and returns a view of it. An error names the dtype, the shape and the
// sizes that were expected.
func NewMatrix(dt compute.DType, raw []byte, rows, cols int) (*Matrix, error) {
	if rows < 0 || cols < 0 {
		return nil, fmt.Errorf("quant: %v matrix with negative shape %d×%d", dt, rows, cols)
	}
	switch dt {
	case compute.F32, compute.F16, compute.BF16, compute.NF4, compute.Q8, compute.Q8_0, compute.Q4_0:
	default:
		return nil, fmt.Errorf("quant: unknown dtype %v", dt)
	}
	m := &Matrix{dtype: dt, rows: rows, cols: cols, raw: raw, nb: ceilDiv(cols, BlockSize(dt))}
	if dt == compute.NF4 {
		n := rows * m.nb
		plain, double := Bytes(dt, rows, cols, DoubleQuant(false)), Bytes(dt, rows, cols)
		switch len(raw) {
		case plain:
		case double:
			m.double = true
		default:
			return nil, fmt.Errorf("quant: nf4 payload of a %d×%d matrix is %d bytes, want %d (double-quantized scales) or %d (float32 scales)",
				rows, cols, len(raw), double, plain)
		}
		m.codes = raw[:n*nf4CodeBytes]
		if m.double {
			m.scales = raw[n*nf4CodeBytes : n*nf4CodeBytes+n]
			m.groups = raw[n*nf4CodeBytes+n : len(raw)-4]
			m.offset = getF32(raw[len(raw)-4:])
		} else {
			m.scales = raw[n*nf4CodeBytes:]
		}
		return m, nil
	}
	if want := Bytes(dt, rows, cols); len(raw) != want {
		return nil, fmt.Errorf("quant: %v payload of a %d×%d matrix is %d bytes, want %d", dt, rows, cols, len(raw), want)
	}
	return m, nil
}

// DType is the format of the payload.
func (m *Matrix) DType() compute.DType { return m.dtype }

// Rows is the number of rows of the matrix.
func (m *Matrix) Rows() int { return m.rows }

// Cols is the number of columns (values per row) of the matrix.
func (m *Matrix) Cols() int { return m.cols }

// Raw is the payload the view reads.
func (m *Matrix) Raw() []byte { return m.raw }

// DoubleQuant says whether an NF4 payload has double-quantized scales.
func (m *Matrix) DoubleQuant() bool { return m.double }

// NF4Absmax returns the scale (absmax) of NF4 block k, numbered row by row
// (block k covers row k/nb, columns (k%nb)·64 ...), as every decoder uses
// it: decoded from the double quantization when there is one.
func (m *Matrix) NF4Absmax(k int) float32 {
	if m.double {
		return dqAbsmax(int8(m.scales[k]), getF32(m.groups[4*(k/DoubleQuantGroup):]), m.offset)
	}
	return getF32(m.scales[4*k:])
}

// DecodeRow writes the values of row row, columns col .. col+len(dst)-1,
// into dst. col must be a multiple of BlockSize(m.DType()); out-of-range
// arguments panic.
func (m *Matrix) DecodeRow(dst []float32, row, col int) {
	bs := BlockSize(m.dtype)
	if row < 0 || row >= m.rows || col < 0 || col%bs != 0 || col+len(dst) > m.cols {
		panic(fmt.Sprintf("quant: DecodeRow: row %d, columns [%d, %d) of a %d×%d %v matrix (blocks of %d)",
			row, col, col+len(dst), m.rows, m.cols, m.dtype, bs))
	}
	if len(dst) == 0 {
		return
	}
	raw := m.raw
	switch m.dtype {
	case compute.F32:
		src := raw[4*(row*m.cols+col):][:4*len(dst)]
		for i := range dst {
			dst[i] = getF32(src[4*i:])
		}
	case compute.F16:
		decodeF16(dst, raw[2*(row*m.cols+col):])
	case compute.BF16:
		decodeBF16(dst, raw[2*(row*m.cols+col):])
	case compute.NF4:
		k := row*m.nb + col/NF4Block
		for len(dst) > 0 {
			decodeNF4(dst[:min(len(dst), NF4Block)], m.codes[k*nf4CodeBytes:(k+1)*nf4CodeBytes], m.NF4Absmax(k))
			dst = dst[min(len(dst), NF4Block):]
			k++
		}
	case compute.Q8:
		blocks := raw[(row*m.nb+col/Q8Block)*q8BlockBytes:]
		for len(dst) > 0 {
			d := dst[:min(len(dst), Q8Block)]
			decodeInt8(d, blocks[4:q8BlockBytes], getF32(blocks)/127)
			dst, blocks = dst[len(d):], blocks[q8BlockBytes:]
		}
	case compute.Q8_0:
		blocks := raw[(row*m.nb+col/Q8_0Block)*q8_0BlockBytes:]
		for len(dst) > 0 {
			d := dst[:min(len(dst), Q8_0Block)]
			decodeInt8(d, blocks[2:q8_0BlockBytes], F16ToF32(binary.LittleEndian.Uint16(blocks)))
			dst, blocks = dst[len(d):], blocks[q8_0BlockBytes:]
		}
	case compute.Q4_0:
		blocks := raw[(row*m.nb+col/Q4_0Block)*q4_0BlockBytes:]
		for len(dst) > 0 {
			d := dst[:min(len(dst), Q4_0Block)]
			decodeQ4_0(d, blocks[2:q4_0BlockBytes], F16ToF32(binary.LittleEndian.Uint16(blocks)))
			dst, blocks = dst[len(d):], blocks[q4_0BlockBytes:]
		}
	}
}

// decodeNF4Go is the portable decodeNF4.
func decodeNF4Go(dst []float32, codes []byte, absmax float32) {
	if len(dst) == NF4Block {
		for j, c := range codes[:nf4CodeBytes] {
			p := &nf4Pairs[c]
			dst[2*j] = p[0] * absmax
			dst[2*j+1] = p[1] * absmax
		}
		return
	}
	for j := range dst {
		c := codes[j/2]
		if j%2 == 0 {
			c >>= 4
		}
		dst[j] = nf4Codebook[c&15] * absmax
	}
}

// decodeInt8Go is the portable decodeInt8.
func decodeInt8Go(dst []float32, q []byte, scale float32) {
	q = q[:len(dst)]
	for j := range dst {
		dst[j] = float32(int8(q[j])) * scale
	}
}

// decodeQ4_0Go is the portable decodeQ4_0.
func decodeQ4_0Go(dst []float32, qs []byte, d float32) {
	if len(dst) == Q4_0Block {
		for j, b := range qs[:Q4_0Block/2] {
			dst[j] = float32(int(b&15)-8) * d
			dst[j+Q4_0Block/2] = float32(int(b>>4)-8) * d
		}
		return
	}
	for j := range dst {
		b := qs[j%(Q4_0Block/2)]
		if j >= Q4_0Block/2 {
			b >>= 4
		}
		dst[j] = float32(int(b&15)-8) * d
	}
}
