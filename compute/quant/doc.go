// Package quant holds the storage formats of frozen weights below 16 bits:
// NF4 (QLoRA's NormalFloat, block 64, optional double quantization of the
// scales), int8 blockwise absmax, and GGML's Q8_0 and Q4_0 for GGUF.
package quant
