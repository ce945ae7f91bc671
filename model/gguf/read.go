package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"unicode/utf8"
)

// FormatError reports a defect in a GGUF file: the file, the metadata key
// or tensor concerned (if any) and what is wrong.
type FormatError struct {
	Path   string // the file
	Key    string // the metadata key concerned, or ""
	Tensor string // the tensor concerned, or ""
	Offset int64  // byte offset in the file where the defect was found (-1: not about one place)
	Msg    string // what is wrong
}

// Error formats the defect as `path: tensor "name": what is wrong (at byte N)`.
func (e *FormatError) Error() string {
	s := e.Path + ": "
	switch {
	case e.Tensor != "":
		s += fmt.Sprintf("tensor %q: ", e.Tensor)
	case e.Key != "":
		s += fmt.Sprintf("metadata %q: ", e.Key)
	}
	s += e.Msg
	if e.Offset >= 0 {
		s += fmt.Sprintf(" (at byte %d)", e.Offset)
	}
	return s
}

// Limits on what a header may declare, so that a corrupt file is an error
// rather than a huge allocation.
const (
	maxKeyLen    = 1 << 16 // bytes of a metadata key
	maxNameLen   = 1 << 10 // bytes of a tensor name
	maxDims      = 4       // GGML_MAX_DIMS
	maxNesting   = 4       // arrays of arrays of ...
	minInfoBytes = 8 + 1 + 4 + 8 + 4 + 8
)

// TensorInfo describes one tensor of a GGUF file.
type TensorInfo struct {
	Name   string
	Dims   []uint64 // as stored: innermost (row length) first
	Type   Type
	Offset uint64 // from the start of the data section
	Size   int64  // bytes of data
}

// Shape returns the dimensions in PyTorch order (outermost first).
func (t TensorInfo) Shape() []int {
	s := make([]int, len(t.Dims))
	for i, d := range t.Dims {
		s[len(t.Dims)-1-i] = int(d)
	}
	return s
}

// Elements is the number of values of the tensor.
func (t TensorInfo) Elements() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= int64(d)
	}
	return n
}

// File is an open GGUF file. The metadata and tensor infos are read at
// Open; tensor data is read on demand. Its methods may be called from
// several goroutines at once, but not concurrently with Close.
type File struct {
	Version    uint32
	KVs        []KV         // metadata in file order
	Tensors    []TensorInfo // tensor infos in file order
	Alignment  int
	DataOffset int64 // start of the data section in the file

	path    string
	fh      *os.File
	size    int64
	kvIndex map[string]int
	tIndex  map[string]int
}

// Open reads the header, metadata and tensor infos of the GGUF file at
// path and checks them: magic and version, value types, string and array
// lengths against the file size, UTF-8 keys, unique keys and tensor names,
// known tensor types, dimensions, aligned, in-bounds and non-overlapping
// tensor data. Errors name path; format defects are *FormatError.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	f := &File{path: path, fh: fh, size: st.Size()}
	if err := f.parse(); err != nil {
		fh.Close()
		return nil, err
	}
	return f, nil
}

// Close closes the file.
func (f *File) Close() error {
	if f.fh == nil {
		return nil
	}
	err := f.fh.Close()
	f.fh = nil
	return err
}

// Path returns the path the file was opened with.
func (f *File) Path() string { return f.path }

// Size returns the size of the file in bytes.
func (f *File) Size() int64 { return f.size }

// reader decodes the header, tracking the byte position for errors.
type reader struct {
	f   *File
	br  *bufio.Reader
	pos int64
	key string // metadata key being read, for errors
}

func (r *reader) fail(format string, a ...any) error {
	return &FormatError{Path: r.f.path, Key: r.key, Offset: r.pos, Msg: fmt.Sprintf(format, a...)}
}

func (r *reader) read(n int) ([]byte, error) {
	if int64(n) > r.f.size-r.pos {
		return nil, r.fail("file ends after %d bytes, %d more needed", r.f.size, int64(n)-(r.f.size-r.pos))
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.br, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, r.fail("file is truncated")
		}
		return nil, fmt.Errorf("%s: %w", r.f.path, err)
	}
	r.pos += int64(n)
	return b, nil
}

func (r *reader) u32() (uint32, error) {
	b, err := r.read(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (r *reader) u64() (uint64, error) {
	b, err := r.read(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// str reads a length-prefixed string of at most max bytes.
func (r *reader) str(max int, what string) (string, error) {
	at := r.pos
	n, err := r.u64()
	if err != nil {
		return "", err
	}
	if n > uint64(max) || int64(n) > r.f.size-r.pos {
		r.pos = at
		return "", r.fail("%s length %d is too large (limit %d, %d bytes left in the file)", what, n, max, r.f.size-at-8)
	}
	b, err := r.read(int(n))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func (f *File) parse() error {
	r := &reader{f: f, br: bufio.NewReaderSize(f.fh, 1<<16)}
	magic, err := r.u32()
	if err != nil {
		return err
	}
	if magic != Magic {
		r.pos = 0
		return r.fail("not a GGUF file (magic %q, want \"GGUF\")", binary.LittleEndian.AppendUint32(nil, magic))
	}
	if f.Version, err = r.u32(); err != nil {
		return err
	}
	if f.Version != 2 && f.Version != 3 {
		r.pos -= 4
		return r.fail("GGUF version %d is not supported (2 or 3)", f.Version)
	}
	nt, err := r.u64()
	if err != nil {
		return err
	}
	nkv, err := r.u64()
	if err != nil {
		return err
	}
	left := uint64(f.size - r.pos)
	if nt > left/minInfoBytes || nkv > left/(8+4) {
		r.pos -= 16
		return r.fail("header declares %d tensors and %d metadata entries, more than a file of %d bytes can hold", nt, nkv, f.size)
	}
	f.kvIndex = make(map[string]int, nkv)
	for range nkv {
		r.key = ""
		at := r.pos
		key, err := r.str(maxKeyLen, "key")
		if err != nil {
			return err
		}
		r.key = key
		if !utf8.ValidString(key) || key == "" {
			r.pos = at
			return r.fail("key is empty or not valid UTF-8")
		}
		if _, dup := f.kvIndex[key]; dup {
			r.pos = at
			return r.fail("duplicate key")
		}
		vt, err := r.u32()
		if err != nil {
			return err
		}
		v, err := r.value(ValueType(vt), 0)
		if err != nil {
			return err
		}
		f.kvIndex[key] = len(f.KVs)
		f.KVs = append(f.KVs, KV{Key: key, Value: v})
	}
	r.key = ""
	f.Alignment = DefaultAlignment
	if v, ok := f.Get("general.alignment"); ok {
		a, ok := asUint(v)
		if !ok || a == 0 || a&(a-1) != 0 || a > 1<<20 {
			return &FormatError{Path: f.path, Key: "general.alignment", Offset: -1, Msg: fmt.Sprintf("alignment %v must be a power of two up to 1 MiB", v)}
		}
		f.Alignment = int(a)
	}
	f.tIndex = make(map[string]int, nt)
	for range nt {
		at := r.pos
		name, err := r.str(maxNameLen, "tensor name")
		if err != nil {
			return err
		}
		bad := func(format string, a ...any) error {
			return &FormatError{Path: f.path, Tensor: name, Offset: at, Msg: fmt.Sprintf(format, a...)}
		}
		if _, dup := f.tIndex[name]; dup {
			return bad("duplicate tensor name")
		}
		nd, err := r.u32()
		if err != nil {
			return err
		}
		if nd < 1 || nd > maxDims {
			return bad("%d dimensions (want 1 to %d)", nd, maxDims)
		}
		ti := TensorInfo{Name: name, Dims: make([]uint64, nd)}
		elems := uint64(1)
		for i := range ti.Dims {
			if ti.Dims[i], err = r.u64(); err != nil {
				return err
			}
			d := ti.Dims[i]
			if d > 0 && elems > math.MaxInt64/d {
				return bad("dimensions %v overflow", ti.Dims[:i+1])
			}
			elems *= d
		}
		t, err := r.u32()
		if err != nil {
			return err
		}
		ti.Type = Type(t)
		if !ti.Type.Known() {
			return bad("unknown GGML type %d", t)
		}
		if ti.Offset, err = r.u64(); err != nil {
			return err
		}
		if ti.Dims[0]%uint64(ti.Type.BlockSize()) != 0 {
			return bad("row length %d is not a multiple of %s's block size %d", ti.Dims[0], ti.Type, ti.Type.BlockSize())
		}
		size, ok := ti.Type.RowBytes(int64(elems))
		if !ok {
			return bad("%d elements do not fill whole %s blocks", elems, ti.Type)
		}
		ti.Size = size
		if ti.Offset%uint64(f.Alignment) != 0 {
			return bad("data offset %d is not a multiple of the alignment %d", ti.Offset, f.Alignment)
		}
		f.tIndex[name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, ti)
	}
	f.DataOffset = alignUp(r.pos, int64(f.Alignment))
	if len(f.Tensors) > 0 && f.DataOffset > f.size {
		return &FormatError{Path: f.path, Offset: r.pos, Msg: fmt.Sprintf("file ends at byte %d, before its data section at %d", f.size, f.DataOffset)}
	}
	// Tensor data: inside the file and not overlapping.
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		oa, ob := f.Tensors[a].Offset, f.Tensors[b].Offset
		switch {
		case oa < ob:
			return -1
		case oa > ob:
			return 1
		}
		return 0
	})
	var end uint64
	var prev string
	data := uint64(f.size - f.DataOffset)
	for _, i := range order {
		t := f.Tensors[i]
		if t.Offset > data || uint64(t.Size) > data-t.Offset {
			return &FormatError{Path: f.path, Tensor: t.Name, Offset: -1,
				Msg: fmt.Sprintf("data [%d, %d) of the data section runs past the end of the file (%d data bytes)", t.Offset, t.Offset+uint64(t.Size), data)}
		}
		if t.Offset < end {
			return &FormatError{Path: f.path, Tensor: t.Name, Offset: -1,
				Msg: fmt.Sprintf("data at %d overlaps tensor %q, which ends at %d", t.Offset, prev, end)}
		}
		end, prev = t.Offset+uint64(t.Size), t.Name
	}
	return nil
}

func alignUp(n, a int64) int64 { return (n + a - 1) / a * a }

// value reads a metadata value of type t.
func (r *reader) value(t ValueType, depth int) (any, error) {
	switch t {
	case TypeString:
		return r.str(int(min(r.f.size, math.MaxInt32)), "string")
	case TypeArray:
		if depth >= maxNesting {
			return nil, r.fail("arrays nested deeper than %d", maxNesting)
		}
		et, err := r.u32()
		if err != nil {
			return nil, err
		}
		n, err := r.u64()
		if err != nil {
			return nil, err
		}
		return r.array(ValueType(et), n, depth)
	}
	sz := t.size()
	if sz == 0 {
		return nil, r.fail("unknown value type %d", uint32(t))
	}
	b, err := r.read(sz)
	if err != nil {
		return nil, err
	}
	return decodeScalar(t, b), nil
}

func decodeScalar(t ValueType, b []byte) any {
	switch t {
	case TypeUint8:
		return b[0]
	case TypeInt8:
		return int8(b[0])
	case TypeBool:
		return b[0] != 0
	case TypeUint16:
		return binary.LittleEndian.Uint16(b)
	case TypeInt16:
		return int16(binary.LittleEndian.Uint16(b))
	case TypeUint32:
		return binary.LittleEndian.Uint32(b)
	case TypeInt32:
		return int32(binary.LittleEndian.Uint32(b))
	case TypeFloat32:
		return math.Float32frombits(binary.LittleEndian.Uint32(b))
	case TypeUint64:
		return binary.LittleEndian.Uint64(b)
	case TypeInt64:
		return int64(binary.LittleEndian.Uint64(b))
	case TypeFloat64:
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	return nil
}

// array reads n values of type et.
func (r *reader) array(et ValueType, n uint64, depth int) (any, error) {
	left := uint64(r.f.size - r.pos)
	minSize := uint64(et.size())
	if et == TypeString || et == TypeArray {
		minSize = 8
	}
	if minSize == 0 {
		return nil, r.fail("array of unknown value type %d", uint32(et))
	}
	if n > left/minSize {
		return nil, r.fail("array of %d %s values is larger than the %d bytes left in the file", n, et, left)
	}
	switch et {
	case TypeString:
		out := make([]string, n)
		for i := range out {
			s, err := r.str(int(min(left, math.MaxInt32)), "string")
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case TypeArray:
		out := make([]any, n)
		for i := range out {
			v, err := r.value(TypeArray, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	b, err := r.read(int(n) * et.size())
	if err != nil {
		return nil, err
	}
	sz := et.size()
	switch et {
	case TypeUint8:
		return b, nil
	case TypeInt8:
		out := make([]int8, n)
		for i := range out {
			out[i] = int8(b[i])
		}
		return out, nil
	case TypeBool:
		out := make([]bool, n)
		for i := range out {
			out[i] = b[i] != 0
		}
		return out, nil
	case TypeUint16:
		out := make([]uint16, n)
		for i := range out {
			out[i] = binary.LittleEndian.Uint16(b[i*sz:])
		}
		return out, nil
	case TypeInt16:
		out := make([]int16, n)
		for i := range out {
			out[i] = int16(binary.LittleEndian.Uint16(b[i*sz:]))
		}
		return out, nil
	case TypeUint32:
		out := make([]uint32, n)
		for i := range out {
			out[i] = binary.LittleEndian.Uint32(b[i*sz:])
		}
		return out, nil
	case TypeInt32:
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(binary.LittleEndian.Uint32(b[i*sz:]))
		}
		return out, nil
	case TypeFloat32:
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[i*sz:]))
		}
		return out, nil
	case TypeUint64:
		out := make([]uint64, n)
		for i := range out {
			out[i] = binary.LittleEndian.Uint64(b[i*sz:])
		}
		return out, nil
	case TypeInt64:
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(b[i*sz:]))
		}
		return out, nil
	case TypeFloat64:
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[i*sz:]))
		}
		return out, nil
	}
	return nil, r.fail("array of unknown value type %d", uint32(et))
}

// Get returns the value of a metadata key.
func (f *File) Get(key string) (any, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return nil, false
	}
	return f.KVs[i].Value, true
}

// GetString returns a string value; false when absent or not a string.
func (f *File) GetString(key string) (string, bool) {
	v, _ := f.Get(key)
	s, ok := v.(string)
	return s, ok
}

// GetUint returns an integer value of any integer type that is not
// negative; false when absent, negative or not an integer.
func (f *File) GetUint(key string) (uint64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return asUint(v)
}

// GetFloat returns a float32 or float64 value as float64.
func (f *File) GetFloat(key string) (float64, bool) {
	v, _ := f.Get(key)
	switch x := v.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// GetBool returns a bool value.
func (f *File) GetBool(key string) (bool, bool) {
	v, _ := f.Get(key)
	b, ok := v.(bool)
	return b, ok
}

// GetStrings returns an array of strings.
func (f *File) GetStrings(key string) ([]string, bool) {
	v, _ := f.Get(key)
	s, ok := v.([]string)
	return s, ok
}

func asUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case int8:
		return uint64(x), x >= 0
	case int16:
		return uint64(x), x >= 0
	case int32:
		return uint64(x), x >= 0
	case int64:
		return uint64(x), x >= 0
	}
	return 0, false
}

// Architecture returns general.architecture, or "".
func (f *File) Architecture() string {
	s, _ := f.GetString("general.architecture")
	return s
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.tIndex[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// ErrNotFound is returned (wrapped) for a tensor the file does not hold.
var ErrNotFound = errors.New("no such tensor")

// TensorBytes reads the raw data of the named tensor.
func (f *File) TensorBytes(name string) ([]byte, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%s: tensor %q: %w", f.path, name, ErrNotFound)
	}
	if f.fh == nil {
		return nil, fmt.Errorf("%s: file is closed", f.path)
	}
	b := make([]byte, t.Size)
	if _, err := f.fh.ReadAt(b, f.DataOffset+int64(t.Offset)); err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", f.path, name, err)
	}
	return b, nil
}

// Float32 reads the named tensor and decodes it to float32 values (F32,
// F16, BF16, F64, Q8_0 and Q4_0 tensors), in row-major order.
func (f *File) Float32(name string) ([]float32, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%s: tensor %q: %w", f.path, name, ErrNotFound)
	}
	b, err := f.TensorBytes(name)
	if err != nil {
		return nil, err
	}
	cols := int(t.Dims[0])
	rows := 1
	if cols > 0 {
		rows = int(t.Elements()) / cols
	}
	v, err := Decode(t.Type, b, rows, cols)
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", f.path, name, err)
	}
	return v, nil
}
