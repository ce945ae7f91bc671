// Package quant holds the compact storage formats of frozen weights: the
// 16-bit floats (f16, bf16), NF4 (QLoRA's 4-bit NormalFloat, block 64, with
// double quantization of the scales), int8 blockwise absmax (block 64), and
// GGML's Q8_0 and Q4_0 as GGUF files hold them.
//
// A weight is a matrix of rows×cols values in row-major order (a linear
// layer's [Out, In]); every row is quantized on its own, in blocks of
// BlockSize consecutive values along the row. When cols is not a multiple of
// the block size, the last block of each row is padded with zeros (values
// that are not part of the matrix and decode to 0), so every shape can be
// stored. GGUF files only hold rows whose length is a multiple of 32, for
// which the Q8_0 and Q4_0 payloads below are byte for byte llama.cpp's.
//
// Quantize turns float32 values into a payload, Dequantize turns a payload
// back, Bytes gives a payload's size, and Matrix decodes pieces of rows for
// the compute kernels, which never widen a whole weight at once. All
// multi-byte numbers are little-endian.
//
// # Layouts
//
// In what follows B is the block size, nb = ceil(cols/B) the blocks of a row
// and N = rows·nb the blocks of the matrix, numbered row by row.
//
// F32, F16, BF16: rows·cols values of 4, 2 and 2 bytes (IEEE binary32,
// IEEE binary16, bfloat16), row-major. Conversions to 16 bits round to
// nearest, ties to even, as PyTorch's .to(dtype).
//
// NF4 (B = 64), as bitsandbytes' quantize_4bit(quant_type="nf4"): the 16
// NormalFloat values of NF4Codebook(); per block, absmax = max|x| and each
// value is coded by the codebook index nearest to x·(1/absmax), chosen by
// bitsandbytes' decision tree over the midpoints between neighbouring codes
// (dQuantizeNF4); a block whose absmax is 0 is all code 7 (the value 0).
// A value decodes to NF4Codebook()[code]·absmax. The payload is
//
//	codes   N·32 bytes: block k at bytes [32k, 32k+32); byte j of a block
//	        holds value 2j in its high nibble and value 2j+1 in its low
//	        nibble (bitsandbytes' order); padding values hold code 7.
//	scales  without double quantization: N float32, the absmax of each block.
//	        with double quantization (the default, as QLoRA):
//	          N int8        q[k]
//	          ceil(N/256)   float32 s[g], one per group of 256 blocks
//	          1 float32     offset, the mean of all absmax
//	        where s[g] = max |absmax[k] - offset| over the group's blocks and
//	        q[k] = round((absmax[k]-offset)/s[g]·127) (half away from zero;
//	        0 when s[g] is 0). The decoded absmax of block k is
//	        float32(q[k])·(s[g]/127) + offset. This is "simple blockwise
//	        absmax int8" double quantization, not bitsandbytes' 8-bit dynamic
//	        map: same storage cost (8 bits per block + a float per 256
//	        blocks), uniform rather than log-spaced steps.
//
// The codes are computed from the exact absmax (as bitsandbytes does), the
// scales are compressed afterwards. Both variants have different sizes for
// every shape, so a payload's length says which one it is. When cols is a
// multiple of 64 the codes and the plain absmax are bitsandbytes' arrays for
// the flattened weight.
//
// Q8 (B = 64), int8 blockwise absmax: N blocks of 68 bytes, each a float32
// absmax = max|x| then 64 int8 q = round(x/absmax·127) (computed in float32,
// rounded half away from zero; 0 when absmax is 0). A value decodes to
// float32(q)·(absmax/127).
//
// Q8_0 (B = 32), GGML block_q8_0: N blocks of 34 bytes, each an f16 scale d
// then 32 int8 qs, made exactly as llama.cpp's quantize_row_q8_0_ref:
// amax = max|x|, d = amax/127, qs = roundf(x·(1/d)) (0 when d is 0), d
// stored rounded to f16. A value decodes to qs·f16(d).
//
// Q4_0 (B = 32), GGML block_q4_0: N blocks of 18 bytes, each an f16 scale d
// then 16 bytes; byte j holds value j in its low nibble and value j+16 in its
// high nibble. As llama.cpp's quantize_row_q4_0_ref: max is the value of
// largest magnitude (the first one on ties), d = max/-8, the nibble is
// min(15, trunc(x·(1/d) + 8.5)) (0 when d is 0), d stored rounded to f16. A
// value decodes to (nibble-8)·f16(d).
package quant
