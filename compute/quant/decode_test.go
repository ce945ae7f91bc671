package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fynetune/fynetune/compute"
)

// refRow decodes row row of m block by block with the portable block
// decoders, the definition DecodeRow and DecodeRowPanels must follow.
func refRow(m *Matrix, row int) []float32 {
	dst := make([]float32, m.cols)
	switch m.dtype {
	case compute.NF4:
		for c := 0; c < m.cols; c += NF4Block {
			k := row*m.nb + c/NF4Block
			decodeNF4Go(dst[c:min(c+NF4Block, m.cols)], m.codes[k*nf4CodeBytes:(k+1)*nf4CodeBytes], m.NF4Absmax(k))
		}
	case compute.Q8:
		for c := 0; c < m.cols; c += Q8Block {
			b := m.raw[(row*m.nb+c/Q8Block)*q8BlockBytes:][:q8BlockBytes]
			decodeInt8Go(dst[c:min(c+Q8Block, m.cols)], b[4:], getF32(b)/127)
		}
	case compute.Q8_0:
		for c := 0; c < m.cols; c += Q8_0Block {
			b := m.raw[(row*m.nb+c/Q8_0Block)*q8_0BlockBytes:][:q8_0BlockBytes]
			decodeInt8Go(dst[c:min(c+Q8_0Block, m.cols)], b[2:], F16ToF32(binary.LittleEndian.Uint16(b)))
		}
	case compute.Q4_0:
		for c := 0; c < m.cols; c += Q4_0Block {
			b := m.raw[(row*m.nb+c/Q4_0Block)*q4_0BlockBytes:][:q4_0BlockBytes]
			decodeQ4_0Go(dst[c:min(c+Q4_0Block, m.cols)], b[2:], F16ToF32(binary.LittleEndian.Uint16(b)))
		}
	case compute.F32:
		for c := range dst {
			dst[c] = getF32(m.raw[4*(row*m.cols+c):])
		}
	case compute.F16:
		for c := range dst {
			dst[c] = F16ToF32(binary.LittleEndian.Uint16(m.raw[2*(row*m.cols+c):]))
		}
	case compute.BF16:
		for c := range dst {
			dst[c] = BF16ToF32(binary.LittleEndian.Uint16(m.raw[2*(row*m.cols+c):]))
		}
	}
	return dst
}

// TestDecodeRowPanels checks DecodeRow and DecodeRowPanels (vector code
// where the CPU has it) against refRow bit for bit, on payloads of random
// bytes (every scale and code, NaN included), for pieces of rows starting
// on every kind of block boundary, whole blocks and a partial last block,
// double-quantized NF4 runs that cross a group of scales, and strides that
// leave gaps, which must stay untouched.
func TestDecodeRowPanels(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 21))
	type payload struct {
		name string
		dt   compute.DType
		opts []Option
	}
	payloads := []payload{
		{"f32", compute.F32, nil}, {"f16", compute.F16, nil}, {"bf16", compute.BF16, nil},
		{"q8", compute.Q8, nil}, {"nf4", compute.NF4, nil}, {"nf4-plain", compute.NF4, []Option{DoubleQuant(false)}},
		{"q8_0", compute.Q8_0, nil}, {"q4_0", compute.Q4_0, nil},
	}
	shapes := [][2]int{{3, 64}, {4, 100}, {2, 700}, {3, 5 * 64 * 17}} // the last: 255 NF4 blocks a row
	const sentinel = 0x7fc0dead
	for _, p := range payloads {
		for _, sh := range shapes {
			rows, cols := sh[0], sh[1]
			raw := make([]byte, Bytes(p.dt, rows, cols, p.opts...))
			for i := range raw {
				raw[i] = byte(r.Uint32())
			}
			m, err := NewMatrix(p.dt, raw, rows, cols)
			if err != nil {
				t.Fatal(err)
			}
			bs := BlockSize(p.dt)
			for row := range rows {
				want := refRow(m, row)
				for _, piece := range [][2]int{{0, cols}, {0, 1}, {0, min(cols, 64)}, {64, cols - 64}, {128, 200}, {cols - cols%64, cols % 64}, {cols / 2 / 64 * 64, cols - cols/2/64*64}} {
					col, n := piece[0], min(piece[1], cols-piece[0])
					if col%bs != 0 || col < 0 || n < 0 || col+n > cols {
						continue
					}
					got := make([]float32, n)
					m.DecodeRow(got, row, col)
					for i := range got {
						if !same(p.dt, got[i], want[col+i]) {
							t.Fatalf("%s %d×%d: DecodeRow(row %d, col %d, %d values)[%d] = %v, want %v", p.name, rows, cols, row, col, n, i, got[i], want[col+i])
						}
					}
					for _, stride := range []int{PanelWidth, 20, 16 * 37} {
						size := 0
						if n > 0 {
							size = (n-1)/PanelWidth*stride + (n-1)%PanelWidth + 1
						}
						dst := make([]float32, size+stride)
						for i := range dst {
							dst[i] = math.Float32frombits(sentinel)
						}
						m.DecodeRowPanels(dst, row, col, n, stride)
						what := fmt.Sprintf("%s %d×%d: DecodeRowPanels(row %d, col %d, %d values, stride %d)", p.name, rows, cols, row, col, n, stride)
						for i := range dst {
							g, o := i/stride, i%stride
							v := g*PanelWidth + o
							if o < PanelWidth && v < n {
								if !same(p.dt, dst[i], want[col+v]) {
									t.Fatalf("%s: value %d = %v, want %v", what, v, dst[i], want[col+v])
								}
							} else if math.Float32bits(dst[i]) != sentinel {
								t.Fatalf("%s: wrote %v at %d, between the groups", what, dst[i], i)
							}
						}
					}
				}
			}
		}
	}
}

// TestDecodeRowPanelsErrors checks the messages of bad arguments.
func TestDecodeRowPanelsErrors(t *testing.T) {
	m, err := NewMatrix(compute.NF4, Quantize(compute.NF4, make([]float32, 2*128), 2, 128), 2, 128)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f    func()
		want string
	}{
		{func() { m.DecodeRowPanels(make([]float32, 64), 2, 0, 16, 16) }, "quant: DecodeRowPanels: row 2, columns [0, 16) of a 2×128 nf4 matrix (blocks of 64)"},
		{func() { m.DecodeRowPanels(make([]float32, 64), 0, 32, 16, 16) }, "columns [32, 48)"},
		{func() { m.DecodeRowPanels(make([]float32, 64), 0, 0, 32, 8) }, "32 values in groups of 16, 8 apart, do not fit in 64"},
		{func() { m.DecodeRowPanels(make([]float32, 64), 0, 0, 40, 32) }, "40 values in groups of 16, 32 apart, do not fit in 64"},
		{func() { m.DecodeRow(make([]float32, 129), 0, 0) }, "quant: DecodeRow: row 0, columns [0, 129)"},
	} {
		msg := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			c.f()
			return
		}()
		if !contains(msg, c.want) {
			t.Errorf("panic %q, want it to contain %q", msg, c.want)
		}
	}
}

// same says whether a decoded value is the reference one, bit for bit;
// for f16 any NaN matches any NaN (F16C quiets signaling NaNs, F16ToF32
// keeps their payload, see TestHalfConversions).
func same(dt compute.DType, got, want float32) bool {
	if dt == compute.F16 && got != got && want != want {
		return true
	}
	return math.Float32bits(got) == math.Float32bits(want)
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
