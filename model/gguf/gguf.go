// Package gguf reads and writes GGUF v3 files, the single-file model format
// of llama.cpp, Ollama and the GGML ecosystem.
//
// A GGUF file is a header (magic "GGUF", version, tensor count, metadata
// count), typed key/value metadata, one info record per tensor (name,
// dimensions innermost first, GGML type, offset), padding to the alignment
// (general.alignment, 32 by default), and the tensor data, each tensor
// starting at an aligned offset of the data section. Everything is
// little-endian. The format is described in ggml's docs/gguf.md.
//
// Shapes: GGUF lists a tensor's dimensions innermost first (ne[0] is the
// length of a row), the reverse of PyTorch's order. This package speaks
// PyTorch order everywhere (Tensor.Shape, TensorInfo.Shape) and keeps the
// file's order only in TensorInfo.Dims. A Hugging Face weight [out, in] is
// stored with Dims [in, out] and the same bytes.
//
// The package has its own small writer rather than ollama's fs/ggml
// because that one comes with the whole Ollama module (its model, server
// and backend packages and their dependencies) for what is a few hundred
// lines of code; the reader is ours too, so that inspection and export
// verification share one implementation whose errors name the file, the
// key or tensor, and the defect. Files written here are also checked
// against github.com/gpustack/gguf-parser-go in the tests.
//
// Tensor types F32, F16, BF16, Q8_0 and Q4_0 can be written and decoded to
// float32 (Q8_0 and Q4_0 through compute/quant); the header of a file with
// any other GGML type (the K-quants, I-quants, ...) is still read, so such
// files can be inspected.
package gguf

import (
	"fmt"
)

// Magic is the first four bytes of every GGUF file ("GGUF"), read as a
// little-endian uint32.
const Magic = 0x46554747

// Version is the GGUF version this package writes. Versions 2 and 3 are
// read (they differ from each other only in endianness conventions that
// little-endian files do not see).
const Version = 3

// DefaultAlignment is the alignment of tensor data when general.alignment
// is absent.
const DefaultAlignment = 32

// ValueType is the type tag of a metadata value.
type ValueType uint32

// The metadata value types of GGUF.
const (
	TypeUint8 ValueType = iota
	TypeInt8
	TypeUint16
	TypeInt16
	TypeUint32
	TypeInt32
	TypeFloat32
	TypeBool
	TypeString
	TypeArray
	TypeUint64
	TypeInt64
	TypeFloat64
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

// String returns the type's name as the GGUF documentation spells it
// ("uint32", "string", ...).
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(t))
}

// size is the encoded size of a fixed-size value type, 0 for string and
// array.
func (t ValueType) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// KV is one metadata entry. Value holds the Go type matching the GGUF type:
// uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64,
// int64 or float64; arrays are slices of those ([]string, []float32,
// []int32, ...); an array of arrays reads as []any holding such slices.
type KV struct {
	Key   string
	Value any
}

// Type is a GGML tensor type.
type Type uint32

// GGML tensor types (ggml.h's enum ggml_type). Only F32, F16, BF16, Q8_0
// and Q4_0 can be written and decoded here; the others are known so that
// their files can be read and described.
const (
	F32     Type = 0
	F16     Type = 1
	Q4_0    Type = 2
	Q4_1    Type = 3
	Q5_0    Type = 6
	Q5_1    Type = 7
	Q8_0    Type = 8
	Q8_1    Type = 9
	Q2_K    Type = 10
	Q3_K    Type = 11
	Q4_K    Type = 12
	Q5_K    Type = 13
	Q6_K    Type = 14
	Q8_K    Type = 15
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	IQ1_M   Type = 29
	BF16    Type = 30
	TQ1_0   Type = 34
	TQ2_0   Type = 35
	MXFP4   Type = 39
)

type typeTrait struct {
	name      string
	blockSize int // elements per block
	typeSize  int // bytes per block
}

var traits = map[Type]typeTrait{
	F32: {"F32", 1, 4}, F16: {"F16", 1, 2}, Q4_0: {"Q4_0", 32, 18}, Q4_1: {"Q4_1", 32, 20},
	Q5_0: {"Q5_0", 32, 22}, Q5_1: {"Q5_1", 32, 24}, Q8_0: {"Q8_0", 32, 34}, Q8_1: {"Q8_1", 32, 36},
	Q2_K: {"Q2_K", 256, 84}, Q3_K: {"Q3_K", 256, 110}, Q4_K: {"Q4_K", 256, 144}, Q5_K: {"Q5_K", 256, 176},
	Q6_K: {"Q6_K", 256, 210}, Q8_K: {"Q8_K", 256, 292}, IQ2_XXS: {"IQ2_XXS", 256, 66},
	IQ2_XS: {"IQ2_XS", 256, 74}, IQ3_XXS: {"IQ3_XXS", 256, 98}, IQ1_S: {"IQ1_S", 256, 50},
	IQ4_NL: {"IQ4_NL", 32, 18}, IQ3_S: {"IQ3_S", 256, 110}, IQ2_S: {"IQ2_S", 256, 82},
	IQ4_XS: {"IQ4_XS", 256, 136}, I8: {"I8", 1, 1}, I16: {"I16", 1, 2}, I32: {"I32", 1, 4},
	I64: {"I64", 1, 8}, F64: {"F64", 1, 8}, IQ1_M: {"IQ1_M", 256, 56}, BF16: {"BF16", 1, 2},
	TQ1_0: {"TQ1_0", 256, 54}, TQ2_0: {"TQ2_0", 256, 66}, MXFP4: {"MXFP4", 32, 17},
}

// String returns ggml's name of the type ("F16", "Q8_0", ...).
func (t Type) String() string {
	if tr, ok := traits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("Type(%d)", uint32(t))
}

// Known reports whether t is a GGML type this package knows the layout of.
func (t Type) Known() bool { _, ok := traits[t]; return ok }

// BlockSize is the number of elements per block (1 for plain types).
func (t Type) BlockSize() int { return traits[t].blockSize }

// Writable reports whether tensors of type t can be written and decoded by
// this package.
func (t Type) Writable() bool {
	switch t {
	case F32, F16, BF16, Q8_0, Q4_0:
		return true
	}
	return false
}

// ParseType returns the type named s (case-insensitive: "f16", "Q8_0", ...).
func ParseType(s string) (Type, bool) {
	for t, tr := range traits {
		if equalFold(tr.name, s) {
			return t, true
		}
	}
	return 0, false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// RowBytes is the byte size of n elements of type t, which must be a
// multiple of the block size; it reports false otherwise.
func (t Type) RowBytes(n int64) (int64, bool) {
	tr, ok := traits[t]
	if !ok || n < 0 || n%int64(tr.blockSize) != 0 {
		return 0, false
	}
	return n / int64(tr.blockSize) * int64(tr.typeSize), true
}

// FileType values for general.file_type (llama.cpp's enum llama_ftype).
const (
	FileTypeAllF32     = 0
	FileTypeMostlyF16  = 1
	FileTypeMostlyQ4_0 = 2
	FileTypeMostlyQ8_0 = 7
	FileTypeMostlyBF16 = 32
)

// FileTypeOf returns the general.file_type value for a file whose large
// matrices are of type t.
func FileTypeOf(t Type) uint32 {
	switch t {
	case F16:
		return FileTypeMostlyF16
	case Q4_0:
		return FileTypeMostlyQ4_0
	case Q8_0:
		return FileTypeMostlyQ8_0
	case BF16:
		return FileTypeMostlyBF16
	}
	return FileTypeAllF32
}
