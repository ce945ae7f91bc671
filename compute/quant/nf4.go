package quant

// NF4Codebook returns the 4-bit NormalFloat code of QLoRA: the values of
// bitsandbytes' get_4bit_type("nf4") (csrc's nf4_dequantization_lut), which
// code i decodes to (times its block's absmax).
func NF4Codebook() [16]float32 { return nf4Codebook }

var nf4Codebook = [16]float32{
	-1.0,
	-0.6961928009986877,
	-0.5250730514526367,
	-0.39491748809814453,
	-0.28444138169288635,
	-0.18477343022823334,
	-0.09105003625154495,
	0.0,
	0.07958029955625534,
	0.16093020141124725,
	0.24611230194568634,
	0.33791524171829224,
	0.44070982933044434,
	0.5626170039176941,
	0.7229568362236023,
	1.0,
}

// nf4Zero is the code of the value 0.
const nf4Zero = 7

// nf4Pairs[b] holds the two values coded by byte b: high nibble first.
var nf4Pairs = func() (t [256][2]float32) {
	for b := range t {
		t[b] = [2]float32{nf4Codebook[b>>4], nf4Codebook[b&15]}
	}
	return t
}()

// NF4Code returns the NF4 code of x (a value already divided by its block's
// absmax): bitsandbytes' dQuantizeNF4, a decision tree over the midpoints of
// neighbouring codebook values (as float32 constants). A value exactly on a
// midpoint takes the lower code; NaN takes code 0, as in bitsandbytes.
func NF4Code(x float32) byte {
	if x > 0.03979014977812767 {
		if x > 0.3893125355243683 {
			if x > 0.6427869200706482 {
				if x > 0.8614784181118011 {
					return 0b1111
				}
				return 0b1110
			}
			if x > 0.5016634166240692 {
				return 0b1101
			}
			return 0b1100
		}
		if x > 0.2035212516784668 {
			if x > 0.2920137718319893 {
				return 0b1011
			}
			return 0b1010
		}
		if x > 0.1202552504837513 {
			return 0b1001
		}
		return 0b1000
	}
	if x > -0.33967943489551544 {
		if x > -0.13791173323988914 {
			if x > -0.045525018125772476 {
				return 0b0111
			}
			return 0b0110
		}
		if x > -0.23460740596055984 {
			return 0b0101
		}
		return 0b0100
	}
	if x > -0.6106329262256622 {
		if x > -0.4599952697753906 {
			return 0b0011
		}
		return 0b0010
	}
	if x > -0.8480964004993439 {
		return 0b0001
	}
	return 0b0000
}

// quantizeNF4Block codes the 64 values x into 32 bytes of dst and returns
// their absmax.
func quantizeNF4Block(dst []byte, x []float32) float32 {
	var amax float32
	for _, v := range x {
		if a := abs32(v); a > amax { // fmaxf: NaN does not win
			amax = a
		}
	}
	if amax == 0 {
		for j := range nf4CodeBytes {
			dst[j] = nf4Zero<<4 | nf4Zero
		}
		return 0
	}
	inv := 1 / amax // bitsandbytes multiplies by the reciprocal
	for j := range nf4CodeBytes {
		hi := NF4Code(float32(x[2*j] * inv))
		lo := NF4Code(float32(x[2*j+1] * inv))
		dst[j] = hi<<4 | lo
	}
	return amax // padding values are 0, whose code is 7
}

// doubleQuantize writes the double-quantized scales section for absmax:
// one int8 per block, a float32 scale per group of 256, the offset.
func doubleQuantize(dst []byte, absmax []float32) {
	n := len(absmax)
	var sum float64
	for _, a := range absmax {
		sum += float64(a)
	}
	var offset float32
	if n > 0 {
		offset = float32(sum / float64(n))
	}
	q := dst[:n]
	groups := dst[n : n+4*ceilDiv(n, DoubleQuantGroup)]
	for g := 0; g*DoubleQuantGroup < n; g++ {
		blk := absmax[g*DoubleQuantGroup : min((g+1)*DoubleQuantGroup, n)]
		var s float32
		for _, a := range blk {
			s = max(s, abs32(a-offset))
		}
		putF32(groups[4*g:], s)
		for i, a := range blk {
			var v int8
			if s != 0 {
				v = int8(roundHalfAway(float32(float32(a-offset)/s) * 127))
			}
			q[g*DoubleQuantGroup+i] = byte(v)
		}
	}
	putF32(dst[len(dst)-4:], offset)
}

// dqAbsmax decodes a double-quantized absmax: float32(q)·(s/127) + offset,
// with each operation rounded to float32 (no fused multiply-add), so that
// every decoder computes the same value.
func dqAbsmax(q int8, s, offset float32) float32 {
	return float32(float32(q)*float32(s/127)) + offset
}
