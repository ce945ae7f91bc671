// Package safetensors reads and writes Hugging Face safetensors checkpoints,
// single files and sharded ones (model-00001-of-0000N.safetensors with a
// model.safetensors.index.json).
//
// A safetensors file is an 8-byte little-endian header length, a JSON header
// mapping each tensor name to its dtype, shape and byte range
// (data_offsets, relative to the data section), an optional
// "__metadata__" object of strings, and then the raw little-endian tensor
// data.
//
// Open maps the file read-only into memory, so opening a multi-gigabyte
// checkpoint costs no heap: Bytes and, for aligned F32 data, Float32 return
// views of the mapping itself. Those views are read-only (writing to them
// crashes the program) and must not be used after Close. The file must not
// be truncated in place while it is open (reads past the new end fault);
// Write and WriteSharded replace files by rename, which is safe.
//
// Every header is validated before use, and each defect is reported as a
// *FormatError that names the file, the tensor and what is wrong: a truncated
// file, a header length past the end of the file or over MaxHeaderBytes,
// malformed JSON, missing or mistyped fields, unsupported dtypes, bad shapes,
// duplicate tensor names, data_offsets out of range, reversed or overlapping,
// byte ranges that do not match shape × dtype, and non-string metadata.
//
// The package has its own parser rather than using
// github.com/nlpodyssey/safetensors because that one decodes the header into
// a Go map, which silently keeps only the last of two tensors with the same
// name, and its errors do not say which tensor or which defect is at fault.
// Here the header is walked token by token so repeated names are caught, and
// tensors keep their file order.
package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"unsafe"

	"github.com/fynetune/fynetune/internal/hugepage"
)

// ErrNotFound is wrapped by the errors of lookups of a tensor name that the
// file or checkpoint does not hold.
var ErrNotFound = errors.New("no such tensor")

// Info describes one tensor of a file.
type Info struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are the tensor's byte range in the data section
	// (data_offsets in the header): End-Begin bytes, End exclusive.
	Begin, End int64
}

// Len returns the number of elements, the product of Shape (1 for a scalar).
func (in Info) Len() int {
	n := 1
	for _, d := range in.Shape {
		n *= d
	}
	return n
}

// File is an open safetensors file. Its methods may be called from several
// goroutines at once, but not concurrently with Close.
type File struct {
	path     string
	size     int64
	data     []byte // the data section
	infos    []Info // file order
	index    map[string]int
	metadata map[string]string
	unmap    func() error // nil when parsed from memory or already closed
	closed   bool
}

// Open maps the safetensors file at path read-only into memory and
// validates its header. Errors name path; format defects are *FormatError.
// Call Close to unmap it.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, not a safetensors file", path)
	}
	size := st.Size()
	if size < 8 { // too short to map usefully; parse reports it as truncated
		data, err := io.ReadAll(io.LimitReader(fh, 8))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return parse(path, data)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("%s: file of %d bytes is too large to map on this platform", path, size)
	}
	data, unmap, err := mapFile(fh, int(size))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := parse(path, data)
	if err != nil {
		unmap()
		return nil, err
	}
	f.unmap = unmap
	return f, nil
}

// Close unmaps the file. Slices returned by Bytes, Float32 and Int32 that
// view the mapping must not be used afterwards. Closing twice is harmless.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.data = nil
	if f.unmap != nil {
		err := f.unmap()
		f.unmap = nil
		if err != nil {
			return fmt.Errorf("%s: unmap: %w", f.path, err)
		}
	}
	return nil
}

// Path returns the path the file was opened with.
func (f *File) Path() string { return f.path }

// Size returns the size of the file in bytes.
func (f *File) Size() int64 { return f.size }

// Names returns the tensor names in the order the header lists them.
func (f *File) Names() []string {
	names := make([]string, len(f.infos))
	for i, in := range f.infos {
		names[i] = in.Name
	}
	return names
}

// Info returns the description of the named tensor, and false if the file
// has no such tensor. The Shape slice is the caller's own copy.
func (f *File) Info(name string) (Info, bool) {
	i, ok := f.index[name]
	if !ok {
		return Info{}, false
	}
	in := f.infos[i]
	in.Shape = slices.Clone(in.Shape)
	return in, true
}

// Metadata returns a copy of the header's "__metadata__" strings, or nil if
// the file has none.
func (f *File) Metadata() map[string]string {
	if f.metadata == nil {
		return nil
	}
	m := make(map[string]string, len(f.metadata))
	for k, v := range f.metadata {
		m[k] = v
	}
	return m
}

// lookup returns the info and the bytes of the named tensor.
func (f *File) lookup(name string) (Info, []byte, error) {
	if f.closed {
		return Info{}, nil, fmt.Errorf("%s: %w", f.path, os.ErrClosed)
	}
	i, ok := f.index[name]
	if !ok {
		return Info{}, nil, fmt.Errorf("%s: tensor %q: %w", f.path, name, ErrNotFound)
	}
	in := f.infos[i]
	return in, f.data[in.Begin:in.End:in.End], nil
}

// Bytes returns the raw little-endian data of the named tensor. The slice
// is a view of the read-only mapping: do not modify it or use it after
// Close.
func (f *File) Bytes(name string) ([]byte, error) {
	_, b, err := f.lookup(name)
	return b, err
}

// littleEndian is true on hosts whose memory order matches the file's, where
// F32 and I32 data can be viewed in place.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// Float32 returns the named tensor as float32 values. For F32 data that is
// 4-byte aligned in memory (the usual case) the slice is a zero-copy view of
// the read-only mapping: do not modify it or use it after Close. Otherwise,
// and for F16, BF16 and F64 (rounded to nearest), it is a new slice.
// Integer and BOOL tensors are an error.
func (f *File) Float32(name string) ([]float32, error) {
	in, b, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	n := len(b) / in.DType.Size()
	switch in.DType {
	case F32:
		if n == 0 {
			return []float32{}, nil
		}
		if littleEndian && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
			return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n), nil
		}
		out := hugepage.Make(n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out, nil
	case F16:
		out := hugepage.Make(n)
		DecodeF16(out, b)
		return out, nil
	case BF16:
		out := hugepage.Make(n)
		DecodeBF16(out, b)
		return out, nil
	case F64:
		out := hugepage.Make(n)
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: tensor %q: dtype %s is not a floating-point type", f.path, name, in.DType)
}

// Int32 returns the named tensor as int32 values. For I32 data that is
// 4-byte aligned in memory the slice is a zero-copy view of the read-only
// mapping: do not modify it or use it after Close. I64 values are converted
// and must fit in an int32; I16, I8 and U8 values are widened. Other dtypes
// are an error.
func (f *File) Int32(name string) ([]int32, error) {
	in, b, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	n := len(b) / in.DType.Size()
	switch in.DType {
	case I32:
		if n == 0 {
			return []int32{}, nil
		}
		if littleEndian && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
			return unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), n), nil
		}
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out, nil
	case I64:
		out := make([]int32, n)
		for i := range out {
			v := int64(binary.LittleEndian.Uint64(b[8*i:]))
			if v < math.MinInt32 || v > math.MaxInt32 {
				return nil, fmt.Errorf("%s: tensor %q: I64 value %d at index %d is out of int32 range", f.path, name, v, i)
			}
			out[i] = int32(v)
		}
		return out, nil
	case I16:
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(int16(binary.LittleEndian.Uint16(b[2*i:])))
		}
		return out, nil
	case I8:
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(int8(b[i]))
		}
		return out, nil
	case U8:
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(b[i])
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: tensor %q: dtype %s cannot be read as int32", f.path, name, in.DType)
}
