package gguf

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// MaxTensorName is the longest tensor name llama.cpp accepts (GGML_MAX_NAME
// is 64 bytes including the terminating zero).
const MaxTensorName = 63

// Tensor is a tensor to write. Either Data holds its encoded bytes, or
// Encode produces them when Write reaches the tensor, so that a large model
// is never held in memory all at once.
type Tensor struct {
	Name   string
	Type   Type
	Shape  []int // PyTorch order, outermost first: [out, in] for a weight
	Data   []byte
	Encode func() ([]byte, error)
}

// dims returns the shape in file order (innermost first).
func (t *Tensor) dims() []uint64 {
	d := make([]uint64, len(t.Shape))
	for i, s := range t.Shape {
		d[len(t.Shape)-1-i] = uint64(s)
	}
	return d
}

// Write writes a GGUF v3 file holding kvs (in the given order) and tensors
// (in the given order, each at an aligned offset) to w. The alignment is
// general.alignment when kvs hold it (a uint32 power of two), else 32. Keys
// and tensor names must be unique; tensor names at most MaxTensorName
// bytes; the row length (last dimension) a multiple of the type's block
// size. Errors name the key or tensor at fault.
func Write(w io.Writer, kvs []KV, tensors []Tensor) error {
	align := DefaultAlignment
	var head bytes.Buffer
	le := binary.LittleEndian
	head.Write(le.AppendUint32(nil, Magic))
	head.Write(le.AppendUint32(nil, Version))
	head.Write(le.AppendUint64(nil, uint64(len(tensors))))
	head.Write(le.AppendUint64(nil, uint64(len(kvs))))
	seen := map[string]bool{}
	for _, kv := range kvs {
		if kv.Key == "" || !utf8.ValidString(kv.Key) || len(kv.Key) > maxKeyLen {
			return fmt.Errorf("gguf: metadata key %q is empty, too long or not valid UTF-8", kv.Key)
		}
		if seen[kv.Key] {
			return fmt.Errorf("gguf: metadata %q: duplicate key", kv.Key)
		}
		seen[kv.Key] = true
		if kv.Key == "general.alignment" {
			a, ok := kv.Value.(uint32)
			if !ok || a == 0 || a&(a-1) != 0 {
				return fmt.Errorf("gguf: metadata %q: want a uint32 power of two, got %T %v", kv.Key, kv.Value, kv.Value)
			}
			align = int(a)
		}
		putString(&head, kv.Key)
		if err := putValue(&head, kv.Value); err != nil {
			return fmt.Errorf("gguf: metadata %q: %v", kv.Key, err)
		}
	}
	names := map[string]bool{}
	offsets := make([]int64, len(tensors))
	sizes := make([]int64, len(tensors))
	var off int64
	for i := range tensors {
		t := &tensors[i]
		bad := func(format string, a ...any) error {
			return fmt.Errorf("gguf: tensor %q: %s", t.Name, fmt.Sprintf(format, a...))
		}
		switch {
		case t.Name == "" || len(t.Name) > MaxTensorName || !utf8.ValidString(t.Name):
			return bad("name is empty, longer than %d bytes or not valid UTF-8", MaxTensorName)
		case names[t.Name]:
			return bad("duplicate tensor name")
		case !t.Type.Known():
			return bad("unknown type %s", t.Type)
		case len(t.Shape) < 1 || len(t.Shape) > maxDims:
			return bad("shape %v: want 1 to %d dimensions", t.Shape, maxDims)
		case t.Data == nil && t.Encode == nil:
			return bad("neither Data nor Encode is set")
		}
		names[t.Name] = true
		n := int64(1)
		for _, d := range t.Shape {
			if d < 1 {
				return bad("shape %v has a dimension below 1", t.Shape)
			}
			n *= int64(d)
		}
		if t.Shape[len(t.Shape)-1]%t.Type.BlockSize() != 0 {
			return bad("row length %d is not a multiple of %s's block size %d", t.Shape[len(t.Shape)-1], t.Type, t.Type.BlockSize())
		}
		sizes[i], _ = t.Type.RowBytes(n)
		if t.Data != nil && int64(len(t.Data)) != sizes[i] {
			return bad("%d bytes of data, shape %v %s needs %d", len(t.Data), t.Shape, t.Type, sizes[i])
		}
		offsets[i] = off
		off = alignUp(off+sizes[i], int64(align))
		putString(&head, t.Name)
		dims := t.dims()
		head.Write(le.AppendUint32(nil, uint32(len(dims))))
		for _, d := range dims {
			head.Write(le.AppendUint64(nil, d))
		}
		head.Write(le.AppendUint32(nil, uint32(t.Type)))
		head.Write(le.AppendUint64(nil, uint64(offsets[i])))
	}
	for head.Len()%align != 0 {
		head.WriteByte(0)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write(head.Bytes()); err != nil {
		return err
	}
	zeros := make([]byte, align)
	var pos int64
	for i := range tensors {
		t := &tensors[i]
		data := t.Data
		if data == nil {
			var err error
			if data, err = t.Encode(); err != nil {
				return fmt.Errorf("gguf: tensor %q: %w", t.Name, err)
			}
			if int64(len(data)) != sizes[i] {
				return fmt.Errorf("gguf: tensor %q: encoded %d bytes, shape %v %s needs %d", t.Name, len(data), t.Shape, t.Type, sizes[i])
			}
		}
		if _, err := bw.Write(zeros[:offsets[i]-pos]); err != nil {
			return err
		}
		if _, err := bw.Write(data); err != nil {
			return err
		}
		pos = offsets[i] + sizes[i]
	}
	if pad := alignUp(pos, int64(align)) - pos; pad > 0 && len(tensors) > 0 {
		if _, err := bw.Write(zeros[:pad]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteFile writes a GGUF file at path atomically: into a temporary file
// beside it, synced, then renamed over path. On failure no file is left.
func WriteFile(path string, kvs []KV, tensors []Tensor) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("writing %s: %w", path, err)
		}
	}()
	if err = Write(tmp, kvs, tensors); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func putString(b *bytes.Buffer, s string) {
	b.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(s))))
	b.WriteString(s)
}

// putValue writes the type tag and the value.
func putValue(b *bytes.Buffer, v any) error {
	le := binary.LittleEndian
	tag := func(t ValueType) { b.Write(le.AppendUint32(nil, uint32(t))) }
	arr := func(t ValueType, n int) {
		tag(TypeArray)
		b.Write(le.AppendUint32(nil, uint32(t)))
		b.Write(le.AppendUint64(nil, uint64(n)))
	}
	switch x := v.(type) {
	case uint8:
		tag(TypeUint8)
		b.WriteByte(x)
	case int8:
		tag(TypeInt8)
		b.WriteByte(byte(x))
	case bool:
		tag(TypeBool)
		b.WriteByte(boolByte(x))
	case uint16:
		tag(TypeUint16)
		b.Write(le.AppendUint16(nil, x))
	case int16:
		tag(TypeInt16)
		b.Write(le.AppendUint16(nil, uint16(x)))
	case uint32:
		tag(TypeUint32)
		b.Write(le.AppendUint32(nil, x))
	case int32:
		tag(TypeInt32)
		b.Write(le.AppendUint32(nil, uint32(x)))
	case float32:
		tag(TypeFloat32)
		b.Write(le.AppendUint32(nil, math.Float32bits(x)))
	case uint64:
		tag(TypeUint64)
		b.Write(le.AppendUint64(nil, x))
	case int64:
		tag(TypeInt64)
		b.Write(le.AppendUint64(nil, uint64(x)))
	case float64:
		tag(TypeFloat64)
		b.Write(le.AppendUint64(nil, math.Float64bits(x)))
	case string:
		if !utf8.ValidString(x) {
			return fmt.Errorf("string value is not valid UTF-8")
		}
		tag(TypeString)
		putString(b, x)
	case []string:
		arr(TypeString, len(x))
		for i, s := range x {
			if !utf8.ValidString(s) {
				return fmt.Errorf("string %d of the array is not valid UTF-8", i)
			}
			putString(b, s)
		}
	case []uint8:
		arr(TypeUint8, len(x))
		b.Write(x)
	case []int8:
		arr(TypeInt8, len(x))
		for _, e := range x {
			b.WriteByte(byte(e))
		}
	case []bool:
		arr(TypeBool, len(x))
		for _, e := range x {
			b.WriteByte(boolByte(e))
		}
	case []uint16:
		arr(TypeUint16, len(x))
		for _, e := range x {
			b.Write(le.AppendUint16(nil, e))
		}
	case []int16:
		arr(TypeInt16, len(x))
		for _, e := range x {
			b.Write(le.AppendUint16(nil, uint16(e)))
		}
	case []uint32:
		arr(TypeUint32, len(x))
		for _, e := range x {
			b.Write(le.AppendUint32(nil, e))
		}
	case []int32:
		arr(TypeInt32, len(x))
		for _, e := range x {
			b.Write(le.AppendUint32(nil, uint32(e)))
		}
	case []float32:
		arr(TypeFloat32, len(x))
		for _, e := range x {
			b.Write(le.AppendUint32(nil, math.Float32bits(e)))
		}
	case []uint64:
		arr(TypeUint64, len(x))
		for _, e := range x {
			b.Write(le.AppendUint64(nil, e))
		}
	case []int64:
		arr(TypeInt64, len(x))
		for _, e := range x {
			b.Write(le.AppendUint64(nil, uint64(e)))
		}
	case []float64:
		arr(TypeFloat64, len(x))
		for _, e := range x {
			b.Write(le.AppendUint64(nil, math.Float64bits(e)))
		}
	default:
		return fmt.Errorf("values of Go type %T cannot be written (want a GGUF scalar, string or a slice of one)", v)
	}
	return nil
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}
