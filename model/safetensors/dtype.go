package safetensors

import (
	"strconv"
	"strings"
)

// DType is the element type of a tensor, as spelled in a safetensors header.
type DType uint8

// The element types this package reads and writes.
const (
	F32  DType = iota + 1 // IEEE 754 binary32
	F16                   // IEEE 754 binary16
	BF16                  // bfloat16: the top 16 bits of a binary32
	F64                   // IEEE 754 binary64
	I64                   // signed 64-bit integer
	I32                   // signed 32-bit integer
	I16                   // signed 16-bit integer
	I8                    // signed 8-bit integer
	U8                    // unsigned 8-bit integer
	BOOL                  // one byte per element, 0 or 1
)

var dtypeNames = [...]string{
	F32: "F32", F16: "F16", BF16: "BF16", F64: "F64",
	I64: "I64", I32: "I32", I16: "I16", I8: "I8", U8: "U8", BOOL: "BOOL",
}

var dtypeSizes = [...]int{
	F32: 4, F16: 2, BF16: 2, F64: 8,
	I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
}

// String returns the header spelling of the type ("F32", "BF16", ...), or
// "DType(n)" for a value that is not one of the constants.
func (d DType) String() string {
	if d.valid() {
		return dtypeNames[d]
	}
	return "DType(" + strconv.Itoa(int(d)) + ")"
}

// Size returns the number of bytes of one element, or 0 for an invalid type.
func (d DType) Size() int {
	if d.valid() {
		return dtypeSizes[d]
	}
	return 0
}

// IsFloat reports whether d is a floating-point type (F32, F16, BF16, F64).
func (d DType) IsFloat() bool {
	return d == F32 || d == F16 || d == BF16 || d == F64
}

func (d DType) valid() bool { return d >= F32 && d <= BOOL }

// ParseDType returns the DType spelled s in a safetensors header. It reports
// false for types this package does not support.
func ParseDType(s string) (DType, bool) {
	for d := F32; d <= BOOL; d++ {
		if dtypeNames[d] == s {
			return d, true
		}
	}
	return 0, false
}

// supportedDTypes lists the supported spellings, for error messages.
func supportedDTypes() string {
	return strings.Join(dtypeNames[1:], " ")
}
