package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/model/safetensors"
)

var allDTypes = []compute.DType{compute.F32, compute.F16, compute.BF16, compute.Q8, compute.NF4, compute.Q8_0, compute.Q4_0}

func randn(seed uint64, n int, scale float32) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64()) * scale
	}
	return v
}

func TestHalfConversions(t *testing.T) {
	for h := range 1 << 16 {
		got, want := F16ToF32(uint16(h)), safetensors.F16ToF32(uint16(h))
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("F16ToF32(%#04x) = %v, want %v", h, got, want)
		}
		if b := BF16ToF32(uint16(h)); math.Float32bits(b) != uint32(h)<<16 {
			t.Fatalf("BF16ToF32(%#04x) = %v", h, b)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	specials := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 65504, 65520, 1e-8, 6e-8, 3e-8, 2.9e-8, float32(math.Inf(1)), float32(math.NaN())}
	for i := range 200000 {
		var f float32
		if i < len(specials) {
			f = specials[i]
		} else {
			f = math.Float32frombits(r.Uint32())
		}
		if got, want := F32ToF16(f), safetensors.F32ToF16(f); got != want {
			t.Fatalf("F32ToF16(%v) = %#04x, want %#04x", f, got, want)
		}
		if got, want := F32ToBF16(f), safetensors.F32ToBF16(f); got != want {
			t.Fatalf("F32ToBF16(%v) = %#04x, want %#04x", f, got, want)
		}
	}
}

// TestDecodeHalf checks the vector decoders of 16-bit payloads against the
// scalar conversions, for every bit pattern and every tail length.
func TestDecodeHalf(t *testing.T) {
	src := make([]byte, 2<<16)
	for h := range 1 << 16 {
		binary.LittleEndian.PutUint16(src[2*h:], uint16(h))
	}
	for _, c := range []struct {
		name   string
		decode func([]float32, []byte)
		scalar func(uint16) float32
	}{
		{"f16", decodeF16, F16ToF32},
		{"bf16", decodeBF16, BF16ToF32},
	} {
		for _, n := range []int{1 << 16, 1<<16 - 3, 13, 7, 0} {
			dst := make([]float32, n)
			c.decode(dst, src[2*(1<<16-n):])
			for i, got := range dst {
				want := c.scalar(uint16(1<<16 - n + i))
				if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
					t.Fatalf("%s: %d values: value %d (%#04x) decodes to %v, want %v", c.name, n, i, 1<<16-n+i, got, want)
				}
			}
		}
	}
}

// TestDecodeBlocks checks the block decoders (vector ones where the CPU has
// them) against the portable ones, bit for bit, on random bytes.
func TestDecodeBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 12))
	raw := make([]byte, 64)
	for range 2000 {
		for i := range raw {
			raw[i] = byte(r.Uint32())
		}
		scale := float32(r.NormFloat64()) * 0.1
		for _, n := range []int{64, 33, 8, 1} {
			got, want := make([]float32, n), make([]float32, n)
			decodeInt8(got, raw, scale)
			decodeInt8Go(want, raw, scale)
			sameBits(t, fmt.Sprintf("int8 run of %d values", n), got, want)
			if n <= Q4_0Block {
				decodeQ4_0(got, raw[:Q4_0Block/2], scale)
				decodeQ4_0Go(want, raw[:Q4_0Block/2], scale)
				sameBits(t, fmt.Sprintf("q4_0 block of %d values", n), got, want)
			}
		}
		if t.Failed() {
			t.Fatalf("bytes %x, scale %v", raw, scale)
		}
	}
}

func TestBytes(t *testing.T) {
	for _, c := range []struct {
		dt         compute.DType
		rows, cols int
		opts       []Option
		want       int
	}{
		{compute.F32, 3, 5, nil, 60},
		{compute.F16, 3, 5, nil, 30},
		{compute.BF16, 3, 5, nil, 30},
		{compute.Q8, 2, 64, nil, 2 * 68},
		{compute.Q8, 2, 65, nil, 4 * 68},
		{compute.Q8_0, 6, 256, nil, 6 * 272},
		{compute.Q4_0, 6, 256, nil, 6 * 144},
		{compute.Q4_0, 1, 33, nil, 2 * 18},
		{compute.NF4, 6, 256, []Option{DoubleQuant(false)}, 24*32 + 24*4},
		{compute.NF4, 6, 256, nil, 24*32 + 24 + 4 + 4},
		{compute.NF4, 300, 64, nil, 300*32 + 300 + 2*4 + 4},
		{compute.NF4, 0, 64, nil, 4},
		{compute.NF4, 2, 1, []Option{DoubleQuant(false)}, 2*32 + 2*4},
	} {
		if got := Bytes(c.dt, c.rows, c.cols, c.opts...); got != c.want {
			t.Errorf("Bytes(%v, %d, %d, %d options) = %d, want %d", c.dt, c.rows, c.cols, len(c.opts), got, c.want)
		}
		// The payload Quantize makes has that size, and a view accepts it.
		raw := Quantize(c.dt, randn(1, c.rows*c.cols, 1), c.rows, c.cols, c.opts...)
		if len(raw) != c.want {
			t.Errorf("Quantize(%v, %d×%d): %d bytes, want %d", c.dt, c.rows, c.cols, len(raw), c.want)
		}
		if _, err := NewMatrix(c.dt, raw, c.rows, c.cols); err != nil {
			t.Errorf("NewMatrix(%v, %d×%d): %v", c.dt, c.rows, c.cols, err)
		}
	}
}

// gpt2Shapes are the matrices of a GPT-2 124M model ([Out, In] of every
// linear layer and the token embedding).
func gpt2Shapes() [][2]int {
	shapes := [][2]int{{50257, 768}, {1024, 768}}
	for range 12 {
		shapes = append(shapes, [2]int{2304, 768}, [2]int{768, 768}, [2]int{3072, 768}, [2]int{768, 3072})
	}
	return shapes
}

func TestBytesPerParam124M(t *testing.T) {
	for _, c := range []struct {
		dt    compute.DType
		opts  []Option
		limit float64
	}{
		{compute.NF4, nil, 0.6},
		{compute.NF4, []Option{DoubleQuant(false)}, 0.6},
		{compute.Q4_0, nil, 0.6},
		{compute.Q8, nil, 1.1},
		{compute.Q8_0, nil, 1.1},
		{compute.F16, nil, 2},
		{compute.BF16, nil, 2},
	} {
		var bytes, params int
		for _, s := range gpt2Shapes() {
			bytes += Bytes(c.dt, s[0], s[1], c.opts...)
			params += s[0] * s[1]
		}
		bpp := float64(bytes) / float64(params)
		t.Logf("%v (%d options): %.4f bytes per parameter over %d parameters", c.dt, len(c.opts), bpp, params)
		if bpp > c.limit {
			t.Errorf("%v: %.4f bytes per parameter, more than %v", c.dt, bpp, c.limit)
		}
	}
}

// errorBound is the largest error allowed for a value of a block, from the
// block's values and what the payload says about it.
func errorBound(t *testing.T, dt compute.DType, m *Matrix, row, col int, blockAbsmax float32) float64 {
	const eps = 1e-6
	a := float64(blockAbsmax)
	switch dt {
	case compute.F32:
		return 0
	case compute.F16:
		return a*math.Exp2(-11) + math.Exp2(-25) // half an ulp, or half a subnormal step
	case compute.BF16:
		return a * math.Exp2(-8)
	case compute.Q8:
		return a/254 + a*eps
	case compute.Q8_0:
		// q = round(x/d): |x - q·d| ≤ d/2; storing d in f16 moves q·d by
		// at most 127·d·2^-11.
		d := a / 127
		return d/2 + 127*d*math.Exp2(-11) + a*eps
	case compute.Q4_0:
		// The value of largest magnitude codes as -8, so values of the
		// other sign reach +8 and are clamped to +7: a whole step.
		d := a / 8
		return d + 8*d*math.Exp2(-11) + a*eps
	case compute.NF4:
		// Half the widest gap between neighbouring codes, plus the error of
		// the stored absmax (which scales a code of magnitude at most 1).
		k := row*m.nb + col/NF4Block
		return a*(1-0.6961928009986877)/2 + math.Abs(float64(m.NF4Absmax(k))-a) + a*eps
	}
	t.Fatalf("no bound for %v", dt)
	return 0
}

func TestRoundTrip(t *testing.T) {
	shapes := []struct{ rows, cols int }{{1, 1}, {3, 32}, {2, 64}, {3, 65}, {4, 100}, {5, 172}, {2, 256}, {300, 64}}
	for _, dt := range allDTypes {
		for _, s := range shapes {
			for _, double := range []bool{true, false} {
				if !double && dt != compute.NF4 {
					continue
				}
				t.Run(fmt.Sprintf("%v/%dx%d/double=%v", dt, s.rows, s.cols, double), func(t *testing.T) {
					src := randn(uint64(s.rows*1000+s.cols), s.rows*s.cols, 0.05)
					// Blocks with structure: a zero block, a spike, a constant.
					if s.cols >= 64 {
						clear(src[:64])
						if s.rows > 1 {
							src[s.cols+3] = 40
						}
					}
					raw := Quantize(dt, src, s.rows, s.cols, DoubleQuant(double))
					m, err := NewMatrix(dt, raw, s.rows, s.cols)
					if err != nil {
						t.Fatal(err)
					}
					if m.DoubleQuant() != (dt == compute.NF4 && double) {
						t.Errorf("DoubleQuant() = %v", m.DoubleQuant())
					}
					got := make([]float32, len(src))
					if err := Dequantize(dt, got, raw, s.rows, s.cols); err != nil {
						t.Fatal(err)
					}
					bs := BlockSize(dt)
					for r := range s.rows {
						for c0 := 0; c0 < s.cols; c0 += bs {
							blk := src[r*s.cols+c0 : r*s.cols+min(c0+bs, s.cols)]
							var a float32
							for _, v := range blk {
								a = max(a, abs32(v))
							}
							for j, v := range blk {
								d := math.Abs(float64(got[r*s.cols+c0+j]) - float64(v))
								bound := errorBound(t, dt, m, r, c0, a)
								if dt == compute.F16 || dt == compute.BF16 {
									bound = errorBound(t, dt, m, r, c0, abs32(v))
								}
								if d > bound {
									t.Fatalf("row %d col %d: %v decodes to %v, error %g > bound %g", r, c0+j, v, got[r*s.cols+c0+j], d, bound)
								}
							}
						}
					}
					// Zeros stay exact zeros in every format.
					if s.cols >= 64 {
						for j, v := range got[:64] {
							if v != 0 {
								t.Fatalf("zero block decodes to %v at %d", v, j)
							}
						}
					}
					// Pieces of rows decode as the whole rows did.
					for r := range s.rows {
						for c0 := 0; c0 < s.cols; c0 += bs {
							for _, n := range []int{1, bs, s.cols - c0} {
								n = min(n, s.cols-c0)
								piece := make([]float32, n)
								m.DecodeRow(piece, r, c0)
								for j := range piece {
									if math.Float32bits(piece[j]) != math.Float32bits(got[r*s.cols+c0+j]) {
										t.Fatalf("DecodeRow(row %d, col %d, %d values)[%d] = %v, Dequantize gave %v", r, c0, n, j, piece[j], got[r*s.cols+c0+j])
									}
								}
							}
						}
					}
				})
			}
		}
	}
}

// TestRowsIndependent checks that a row's payload depends on that row only
// (except NF4's shared double-quantization scales) and that padding a row to
// whole blocks with zeros changes nothing.
func TestRowsIndependent(t *testing.T) {
	const rows, cols = 4, 100
	src := randn(3, rows*cols, 1)
	for _, dt := range allDTypes {
		opts := []Option{DoubleQuant(false)}
		whole := Quantize(dt, src, rows, cols, opts...)
		m, err := NewMatrix(dt, whole, rows, cols)
		if err != nil {
			t.Fatal(err)
		}
		bs := BlockSize(dt)
		padded := roundUp(cols, bs)
		for r := range rows {
			row := make([]float32, padded)
			copy(row, src[r*cols:(r+1)*cols])
			one, err := NewMatrix(dt, Quantize(dt, row, 1, padded, opts...), 1, padded)
			if err != nil {
				t.Fatal(err)
			}
			a, b := make([]float32, cols), make([]float32, padded)
			m.DecodeRow(a, r, 0)
			one.DecodeRow(b, 0, 0)
			for j := range a {
				if math.Float32bits(a[j]) != math.Float32bits(b[j]) {
					t.Fatalf("%v: row %d col %d decodes to %v in the matrix, %v alone", dt, r, j, a[j], b[j])
				}
			}
			for j := cols; j < padded; j++ {
				if b[j] != 0 {
					t.Fatalf("%v: padding at col %d decodes to %v", dt, j, b[j])
				}
			}
		}
	}
}

func roundUp(a, b int) int { return ceilDiv(a, b) * b }

// TestQuantizeTransposed checks that quantizing the transpose of a matrix
// with the Transposed option gives the payload of the matrix.
func TestQuantizeTransposed(t *testing.T) {
	const rows, cols = 70, 100
	src := randn(13, rows*cols, 1)
	tr := make([]float32, len(src))
	for r := range rows {
		for c := range cols {
			tr[c*rows+r] = src[r*cols+c]
		}
	}
	for _, dt := range allDTypes {
		if string(Quantize(dt, tr, rows, cols, Transposed())) != string(Quantize(dt, src, rows, cols)) {
			t.Errorf("%v: the payload of a transposed source differs", dt)
		}
	}
}

// TestNF4Code checks the decision tree against the nearest codebook value.
func TestNF4Code(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for i := range 100000 {
		x := float32(r.Float64()*2 - 1)
		if i < 16 {
			x = nf4Codebook[i]
		}
		c := NF4Code(x)
		d := abs32(nf4Codebook[c] - x)
		for k, v := range nf4Codebook {
			if e := abs32(v - x); e < d-1e-7 {
				t.Fatalf("NF4Code(%v) = %d (%v), but code %d (%v) is nearer", x, c, nf4Codebook[c], k, v)
			}
		}
	}
	// On a midpoint the lower code wins, as bitsandbytes' x > threshold.
	if c := NF4Code(0.03979014977812767); c != 7 {
		t.Errorf("NF4Code(midpoint of codes 7 and 8) = %d, want 7", c)
	}
	if c := NF4Code(float32(math.NaN())); c != 0 {
		t.Errorf("NF4Code(NaN) = %d, want 0 (bitsandbytes' tree)", c)
	}
}

// TestNF4DoubleQuant checks that double quantization only changes the
// scales, within half a step of the second-level int8 code.
func TestNF4DoubleQuant(t *testing.T) {
	const rows, cols = 600, 64 // 600 blocks: three groups, the last partial
	src := randn(9, rows*cols, 1)
	for r := range rows {
		for j := range cols {
			src[r*cols+j] *= 1 + float32(r%17) // scales that vary
		}
	}
	plain, err := NewMatrix(compute.NF4, Quantize(compute.NF4, src, rows, cols, DoubleQuant(false)), rows, cols)
	if err != nil {
		t.Fatal(err)
	}
	dq, err := NewMatrix(compute.NF4, Quantize(compute.NF4, src, rows, cols), rows, cols)
	if err != nil {
		t.Fatal(err)
	}
	if string(plain.codes) != string(dq.codes) {
		t.Fatal("double quantization changed the codes")
	}
	var mean float64
	for k := range rows {
		mean += float64(plain.NF4Absmax(k))
	}
	mean /= rows
	if math.Abs(float64(dq.offset)-mean) > 1e-5*mean {
		t.Errorf("offset %v, want the mean absmax %v", dq.offset, mean)
	}
	for g := 0; g*DoubleQuantGroup < rows; g++ {
		var s float64
		for k := g * DoubleQuantGroup; k < min((g+1)*DoubleQuantGroup, rows); k++ {
			s = max(s, math.Abs(float64(plain.NF4Absmax(k))-float64(dq.offset)))
		}
		for k := g * DoubleQuantGroup; k < min((g+1)*DoubleQuantGroup, rows); k++ {
			a, b := float64(plain.NF4Absmax(k)), float64(dq.NF4Absmax(k))
			if math.Abs(a-b) > s/254*(1+1e-5)+1e-6*a {
				t.Fatalf("block %d: absmax %v stored as %v, error above half a step (%g)", k, a, b, s/254)
			}
		}
	}
}

// TestQuantizeParallel checks that the result does not depend on the number
// of goroutines.
func TestQuantizeParallel(t *testing.T) {
	const rows, cols = 96, 1024
	src := randn(11, rows*cols, 1)
	prev := runtime.GOMAXPROCS(1)
	serial := map[compute.DType]string{}
	for _, dt := range allDTypes {
		serial[dt] = string(Quantize(dt, src, rows, cols))
	}
	runtime.GOMAXPROCS(4)
	defer runtime.GOMAXPROCS(prev)
	for _, dt := range allDTypes {
		if string(Quantize(dt, src, rows, cols)) != serial[dt] {
			t.Errorf("%v: the payload made by 4 goroutines differs from the serial one", dt)
		}
	}
}

func TestNewMatrixErrors(t *testing.T) {
	for _, c := range []struct {
		dt         compute.DType
		n          int
		rows, cols int
		want       string
	}{
		{compute.Q4_0, 35, 1, 64, "q4_0 payload of a 1×64 matrix is 35 bytes, want 36"},
		{compute.Q8, 10, 2, 3, "int8 payload of a 2×3 matrix is 10 bytes, want 136"},
		{compute.NF4, 100, 2, 64, "nf4 payload of a 2×64 matrix is 100 bytes, want 74 (double-quantized scales) or 72 (float32 scales)"},
		{compute.F16, 6, 2, 2, "f16 payload of a 2×2 matrix is 6 bytes, want 8"},
		{compute.DType(42), 0, 1, 1, "unknown dtype DType(42)"},
		{compute.F32, 0, -1, 1, "negative shape"},
	} {
		_, err := NewMatrix(c.dt, make([]byte, c.n), c.rows, c.cols)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewMatrix(%v, %d bytes, %d×%d) = %v, want an error containing %q", c.dt, c.n, c.rows, c.cols, err, c.want)
		}
	}
	if err := Dequantize(compute.F32, make([]float32, 3), make([]byte, 8), 1, 2); err == nil || !strings.Contains(err.Error(), "room for 3 values") {
		t.Errorf("Dequantize into a wrong-sized dst: %v", err)
	}
}

func BenchmarkQuantize(b *testing.B) {
	const rows, cols = 768, 768
	src := randn(1, rows*cols, 0.02)
	for _, dt := range []compute.DType{compute.NF4, compute.Q8, compute.Q8_0, compute.Q4_0, compute.BF16} {
		b.Run(dt.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * len(src)))
			for b.Loop() {
				Quantize(dt, src, rows, cols)
			}
		})
	}
}

func BenchmarkDecodeRow(b *testing.B) {
	const rows, cols = 64, 768
	src := randn(1, rows*cols, 0.02)
	dst := make([]float32, cols)
	for _, dt := range allDTypes {
		m, err := NewMatrix(dt, Quantize(dt, src, rows, cols), rows, cols)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(dt.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * rows * cols))
			for b.Loop() {
				for r := range rows {
					m.DecodeRow(dst, r, 0)
				}
			}
		})
	}
}
