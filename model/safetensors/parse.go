package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"unicode/utf8"
)

// MaxHeaderBytes is the largest JSON header this package accepts (100 MB),
// the same bound the reference implementation uses. It keeps a corrupt
// length prefix from making the reader allocate or scan gigabytes.
const MaxHeaderBytes = 100 << 20

// metadataKey is the reserved header key that holds free-form string
// metadata instead of a tensor.
const metadataKey = "__metadata__"

// FormatError reports a defect in a safetensors file or a sharded
// checkpoint's index: the file, the tensor concerned (if any) and what is
// wrong.
type FormatError struct {
	Path   string // the file, as given to Open or OpenModel
	Tensor string // the tensor concerned; empty when the defect is not about one tensor
	Msg    string // what is wrong
}

// Error formats the defect as "path: tensor \"name\": what is wrong", or
// "path: what is wrong" when no tensor is concerned.
func (e *FormatError) Error() string {
	if e.Tensor != "" {
		return fmt.Sprintf("%s: tensor %q: %s", e.Path, e.Tensor, e.Msg)
	}
	return e.Path + ": " + e.Msg
}

// parse validates the safetensors bytes in data and returns a File whose
// views point into data. name is used in error messages. It never panics,
// whatever data holds.
func parse(name string, data []byte) (*File, error) {
	ferr := func(tensor, format string, args ...any) error {
		return &FormatError{Path: name, Tensor: tensor, Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) < 8 {
		return nil, ferr("", "file is %d bytes, shorter than the 8-byte header length (truncated)", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderBytes {
		return nil, ferr("", "header length %d exceeds the %d MB limit", n, MaxHeaderBytes>>20)
	}
	if n > uint64(len(data)-8) {
		return nil, ferr("", "header length %d is beyond the end of the file (%d bytes follow the length prefix; truncated?)", n, len(data)-8)
	}
	header := data[8 : 8+n]
	f := &File{
		path:  name,
		size:  int64(len(data)),
		data:  data[8+n:],
		index: make(map[string]int),
	}
	if !utf8.Valid(header) {
		return nil, ferr("", "header is not valid UTF-8")
	}
	err := walkObject(header, "tensor name", func(key string, val json.RawMessage) error {
		if key == metadataKey {
			m, err := parseMetadata(val)
			if err != nil {
				return ferr("", "%v", err)
			}
			f.metadata = m
			return nil
		}
		info, err := parseEntry(key, val, int64(len(f.data)))
		if err != nil {
			return ferr(key, "%v", err)
		}
		f.index[key] = len(f.infos)
		f.infos = append(f.infos, info)
		return nil
	})
	if we, ok := err.(*walkError); ok {
		return nil, ferr("", "header %v", we)
	}
	if err != nil {
		return nil, err
	}
	if err := checkOverlap(f.infos); err != nil {
		return nil, &FormatError{Path: name, Tensor: err.Tensor, Msg: err.Msg}
	}
	return f, nil
}

// walkError is a defect found by walkObject. Its text reads as the end of a
// sentence whose subject is the object ("is not valid JSON: ...").
type walkError struct{ msg string }

func (e *walkError) Error() string { return e.msg }

func walkErrorf(format string, args ...any) error {
	return &walkError{fmt.Sprintf(format, args...)}
}

// walkObject walks the JSON object in raw one member at a time with a
// token-level decoder, so that repeated keys (which encoding/json would
// silently merge) are seen and reported; what names the keys in that error.
// fn is called with each key and its raw value in file order; its error
// stops the walk and is returned as is. walkObject's own errors are
// *walkError.
func walkObject(raw []byte, what string, fn func(key string, val json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err == io.EOF {
		return walkErrorf("is empty")
	}
	if err != nil {
		return walkErrorf("is not valid JSON: %v (near byte %d)", err, dec.InputOffset())
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return walkErrorf("is not a JSON object (it starts with %s)", describeToken(tok))
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return walkErrorf("is not valid JSON: %v (near byte %d)", err, dec.InputOffset())
		}
		key, ok := tok.(string)
		if !ok { // the decoder rejects non-string keys itself; kept for safety
			return walkErrorf("is not valid JSON: object key %v is not a string", tok)
		}
		if seen[key] {
			return walkErrorf("has a duplicate %s %q", what, key)
		}
		seen[key] = true
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return walkErrorf("is not valid JSON: %v (near byte %d)", err, dec.InputOffset())
		}
		if err := fn(key, val); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return walkErrorf("is not valid JSON: %v (near byte %d)", err, dec.InputOffset())
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return walkErrorf("has trailing data after the JSON object: %v", err)
		}
		return walkErrorf("has trailing data after the JSON object (%s)", describeToken(tok))
	}
	return nil
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(v))
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	default:
		return "a number"
	}
}

// jsonKind names the kind of the JSON value in raw for error messages.
func jsonKind(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

func parseMetadata(val json.RawMessage) (map[string]string, error) {
	if jsonKind(val) != "an object" {
		return nil, fmt.Errorf("%s is not a JSON object (got %s)", metadataKey, jsonKind(val))
	}
	m := make(map[string]string)
	err := walkObject(val, "key", func(key string, v json.RawMessage) error {
		var s string
		if jsonKind(v) != "a string" || json.Unmarshal(v, &s) != nil {
			return fmt.Errorf("%s key %q has a non-string value (%s)", metadataKey, key, jsonKind(v))
		}
		m[key] = s
		return nil
	})
	if we, ok := err.(*walkError); ok {
		return nil, fmt.Errorf("%s %v", metadataKey, we)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// parseEntry validates one tensor entry of the header against a data
// section of dataLen bytes. Errors describe the defect without the file
// and tensor name, which the caller adds.
func parseEntry(name string, val json.RawMessage, dataLen int64) (Info, error) {
	info := Info{Name: name}
	if k := jsonKind(val); k != "an object" {
		return info, fmt.Errorf("entry is not a JSON object (got %s)", k)
	}
	fields := make(map[string]json.RawMessage)
	err := walkObject(val, "field", func(key string, v json.RawMessage) error {
		fields[key] = v
		return nil
	})
	if err != nil {
		return info, fmt.Errorf("entry %v", err)
	}
	for _, k := range []string{"dtype", "shape", "data_offsets"} {
		if _, ok := fields[k]; !ok {
			return info, fmt.Errorf("missing field %q", k)
		}
	}

	var dt string
	if jsonKind(fields["dtype"]) != "a string" || json.Unmarshal(fields["dtype"], &dt) != nil {
		return info, fmt.Errorf("field \"dtype\" is %s, not a string", jsonKind(fields["dtype"]))
	}
	d, ok := ParseDType(dt)
	if !ok {
		return info, fmt.Errorf("unsupported dtype %q (supported: %s)", dt, supportedDTypes())
	}
	info.DType = d

	shape, err := intArray(fields["shape"], "shape", "shape dimension %d", -1)
	if err != nil {
		return info, err
	}
	info.Shape = make([]int, len(shape))
	for i, v := range shape {
		if v > math.MaxInt {
			return info, fmt.Errorf("shape dimension %d (%d) is too large", i, v)
		}
		info.Shape[i] = int(v)
	}

	offs, err := intArray(fields["data_offsets"], "data_offsets", "data_offsets[%d]", 2)
	if err != nil {
		return info, err
	}
	info.Begin, info.End = offs[0], offs[1]
	if info.Begin > info.End {
		return info, fmt.Errorf("data_offsets [%d %d]: begin > end", info.Begin, info.End)
	}
	if info.End > dataLen {
		return info, fmt.Errorf("data_offsets [%d %d] out of range of the %d-byte data section", info.Begin, info.End, dataLen)
	}

	need, ok := byteSize(info.Shape, d)
	if !ok {
		return info, fmt.Errorf("shape %v %s is too large (byte size overflows)", info.Shape, d)
	}
	if have := info.End - info.Begin; uint64(have) != need {
		return info, fmt.Errorf("data_offsets [%d %d] hold %d bytes, shape %v %s needs %d",
			info.Begin, info.End, have, info.Shape, d, need)
	}
	return info, nil
}

// intArray decodes raw as a JSON array of non-negative integers. field names
// the header field and elem (a format with one %d, the index) its elements
// in errors; want is the required length, or -1 for any.
func intArray(raw json.RawMessage, field, elem string, want int) ([]int64, error) {
	var items []json.RawMessage
	if jsonKind(raw) != "an array" || json.Unmarshal(raw, &items) != nil {
		return nil, fmt.Errorf("field %q is %s, not an array of integers", field, jsonKind(raw))
	}
	if want >= 0 && len(items) != want {
		return nil, fmt.Errorf("field %q has %d elements, want %d", field, len(items), want)
	}
	out := make([]int64, len(items))
	for i, it := range items {
		el := fmt.Sprintf(elem, i)
		if jsonKind(it) != "a number" {
			return nil, fmt.Errorf("%s is %s, not an integer", el, jsonKind(it))
		}
		s := string(bytes.TrimSpace(it))
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange && isIntLiteral(s) {
				return nil, fmt.Errorf("%s (%s) is too large", el, s)
			}
			return nil, fmt.Errorf("%s (%s) is not an integer", el, s)
		}
		if v < 0 {
			return nil, fmt.Errorf("%s is negative (%d)", el, v)
		}
		out[i] = v
	}
	return out, nil
}

func isIntLiteral(s string) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// byteSize returns the number of bytes a tensor of this shape and type
// holds; ok is false if it does not fit in an int64.
func byteSize(shape []int, d DType) (uint64, bool) {
	n := uint64(d.Size())
	for _, dim := range shape {
		if dim == 0 {
			return 0, true
		}
	}
	for _, dim := range shape {
		hi, lo := bits.Mul64(n, uint64(dim))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		n = lo
	}
	return n, true
}

// checkOverlap reports two tensors whose byte ranges intersect. Empty
// tensors occupy no bytes and never overlap.
func checkOverlap(infos []Info) *FormatError {
	order := make([]int, 0, len(infos))
	for i, in := range infos {
		if in.End > in.Begin {
			order = append(order, i)
		}
	}
	sort.Slice(order, func(a, b int) bool {
		x, y := infos[order[a]], infos[order[b]]
		if x.Begin != y.Begin {
			return x.Begin < y.Begin
		}
		return x.End < y.End
	})
	last := -1 // the tensor reaching furthest so far
	for _, i := range order {
		if last >= 0 && infos[i].Begin < infos[last].End {
			a, b := infos[last], infos[i]
			return &FormatError{Tensor: b.Name, Msg: fmt.Sprintf("data_offsets [%d %d] overlap tensor %q [%d %d]",
				b.Begin, b.End, a.Name, a.Begin, a.End)}
		}
		if last < 0 || infos[i].End > infos[last].End {
			last = i
		}
	}
	return nil
}
