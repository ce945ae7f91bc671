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

// PanelWidth is the size of the groups of values DecodeRowPanels writes.
const PanelWidth = 16

// DecodeRow writes the values of row row, columns col .. col+len(dst)-1,
// into dst. col must be a multiple of BlockSize(m.DType()); out-of-range
// arguments panic.
func (m *Matrix) DecodeRow(dst []float32, row, col int) {
	m.check("DecodeRow", row, col, len(dst))
	m.decodePanels(dst, row, col, len(dst), PanelWidth)
}

// DecodeRowPanels writes the values of row row, columns col .. col+n-1,
// in groups of PanelWidth: value i goes to dst[(i/PanelWidth)·stride +
// i%PanelWidth]. This is the layout of the packed panels of an SGEMM (see
// compute/cpu/gemm), which the values can then be decoded straight into.
// col must be a multiple of BlockSize(m.DType()), stride at least
// PanelWidth; out-of-range arguments panic. The values are those DecodeRow
// writes, bit for bit.
func (m *Matrix) DecodeRowPanels(dst []float32, row, col, n, stride int) {
	m.check("DecodeRowPanels", row, col, n)
	if n == 0 {
		return
	}
	if stride < PanelWidth || len(dst) < (n-1)/PanelWidth*stride+(n-1)%PanelWidth+1 {
		panic(fmt.Sprintf("quant: DecodeRowPanels: %d values in groups of %d, %d apart, do not fit in %d", n, PanelWidth, stride, len(dst)))
	}
	m.decodePanels(dst, row, col, n, stride)
}

// check panics unless columns [col, col+n) of row row exist and col starts
// a block.
func (m *Matrix) check(op string, row, col, n int) {
	if bs := BlockSize(m.dtype); row < 0 || row >= m.rows || col < 0 || col%bs != 0 || n < 0 || col+n > m.cols {
		panic(fmt.Sprintf("quant: %s: row %d, columns [%d, %d) of a %d×%d %v matrix (blocks of %d)",
			op, row, col, col+n, m.rows, m.cols, m.dtype, bs))
	}
}

// decodePanels is DecodeRowPanels with checked arguments; stride
// PanelWidth is a plain row.
func (m *Matrix) decodePanels(dst []float32, row, col, n, stride int) {
	if n == 0 {
		return
	}
	switch m.dtype {
	case compute.NF4:
		// Whole blocks in one run, then the partial block at the end of a
		// row.
		k, full := row*m.nb+col/NF4Block, n/NF4Block
		m.nf4Run(dst, k, full, stride)
		if tail := n - full*NF4Block; tail > 0 {
			var buf [NF4Block]float32
			decodeNF4Go(buf[:tail], m.codes[(k+full)*nf4CodeBytes:(k+full+1)*nf4CodeBytes], m.NF4Absmax(k+full))
			scatter(dst[full*NF4Block/PanelWidth*stride:], buf[:tail], stride)
		}
		return
	case compute.Q8:
		blocks, full := m.raw[(row*m.nb+col/Q8Block)*q8BlockBytes:], n/Q8Block
		q8Run(dst, blocks, full, stride)
		if tail := n - full*Q8Block; tail > 0 {
			var buf [Q8Block]float32
			b := blocks[full*q8BlockBytes:]
			decodeInt8Go(buf[:tail], b[4:q8BlockBytes], getF32(b)/127)
			scatter(dst[full*Q8Block/PanelWidth*stride:], buf[:tail], stride)
		}
		return
	}
	if stride == PanelWidth {
		m.decodeRow(dst[:n], row, col)
		return
	}
	// The other formats: a block (or 64 values) at a time through buf.
	var buf [64]float32
	for i := 0; i < n; i += len(buf) {
		c := min(len(buf), n-i)
		m.decodeRow(buf[:c], row, col+i)
		scatter(dst[i/PanelWidth*stride:], buf[:c], stride)
	}
}

// scatter writes src into dst in groups of PanelWidth values stride apart.
func scatter(dst, src []float32, stride int) {
	for g := 0; g < len(src); g += PanelWidth {
		copy(dst[g/PanelWidth*stride:], src[g:min(g+PanelWidth, len(src))])
	}
}

// decodeRow is DecodeRow with checked arguments for the formats other than
// NF4 and Q8.
func (m *Matrix) decodeRow(dst []float32, row, col int) {
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
	default:
		panic(fmt.Sprintf("quant: decodeRow: %v", m.dtype))
	}
}

// nf4RunGo is the portable nf4Run: the n whole NF4 blocks k, k+1, ... into
// dst in groups of 16 values stride apart.
func (m *Matrix) nf4RunGo(dst []float32, k, n, stride int) {
	var buf [NF4Block]float32
	for b := range n {
		d := buf[:]
		if stride == PanelWidth {
			d = dst[b*NF4Block : (b+1)*NF4Block]
		}
		decodeNF4Go(d, m.codes[(k+b)*nf4CodeBytes:(k+b+1)*nf4CodeBytes], m.NF4Absmax(k+b))
		if stride != PanelWidth {
			scatter(dst[4*b*stride:], d, stride)
		}
	}
}

// q8RunGo is the portable q8Run: the n whole Q8 blocks at the start of
// blocks into dst in groups of 16 values stride apart.
func q8RunGo(dst []float32, blocks []byte, n, stride int) {
	var buf [Q8Block]float32
	for b := range n {
		d := buf[:]
		if stride == PanelWidth {
			d = dst[b*Q8Block : (b+1)*Q8Block]
		}
		blk := blocks[b*q8BlockBytes : (b+1)*q8BlockBytes]
		decodeInt8Go(d, blk[4:], getF32(blk)/127)
		if stride != PanelWidth {
			scatter(dst[4*b*stride:], d, stride)
		}
	}
}

// decodeNF4Go writes the first len(dst) (at most 64) values of the NF4 block
// with the given codes and absmax; decodeNF4RunAVX2 matches it bit for bit.
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
