package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Tensor is a tensor to write: its name, element type, shape and raw
// little-endian data (len(Data) must be the product of Shape times
// DType.Size()).
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// F32Tensor returns an F32 Tensor holding data encoded little-endian.
func F32Tensor(name string, shape []int, data []float32) Tensor {
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, DType: F32, Shape: shape, Data: b}
}

// F16Tensor returns an F16 Tensor holding data rounded to binary16.
func F16Tensor(name string, shape []int, data []float32) Tensor {
	b := make([]byte, 2*len(data))
	EncodeF16(b, data)
	return Tensor{Name: name, DType: F16, Shape: shape, Data: b}
}

// BF16Tensor returns a BF16 Tensor holding data rounded to bfloat16.
func BF16Tensor(name string, shape []int, data []float32) Tensor {
	b := make([]byte, 2*len(data))
	EncodeBF16(b, data)
	return Tensor{Name: name, DType: BF16, Shape: shape, Data: b}
}

// I32Tensor returns an I32 Tensor holding data encoded little-endian.
func I32Tensor(name string, shape []int, data []int32) Tensor {
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	return Tensor{Name: name, DType: I32, Shape: shape, Data: b}
}

// Write writes tensors and metadata as a safetensors file at path. The
// header lists the tensors sorted by name and is padded with spaces to a
// multiple of 8 bytes; the data follows in the same order, without gaps.
// metadata may be nil; when empty no "__metadata__" entry is written.
//
// The file is written atomically: to a temporary file in the same
// directory, synced, then renamed over path. A reader never sees a partial
// file, and a File already open on the old path keeps its (old) data, so
// tensors may be rewritten from a mapping of the file they replace.
func Write(path string, tensors []Tensor, metadata map[string]string) error {
	order, err := validateTensors(path, tensors)
	if err != nil {
		return err
	}
	header, err := encodeHeader(tensors, order, metadata)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeAtomic(path, func(w io.Writer) error { return writeEncoded(w, header, tensors, order) })
}

// WriteTo writes tensors and metadata in the safetensors format to w, laid
// out exactly as Write lays out a file. It is for callers that manage their
// own files (an export staged in a temporary folder); Write is the usual
// way to save a file.
func WriteTo(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	order, err := validateTensors("safetensors", tensors)
	if err != nil {
		return err
	}
	header, err := encodeHeader(tensors, order, metadata)
	if err != nil {
		return err
	}
	return writeEncoded(w, header, tensors, order)
}

// writeEncoded writes the header length, the header and the tensor data.
func writeEncoded(w io.Writer, header []byte, tensors []Tensor, order []int) error {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	for _, i := range order {
		if _, err := w.Write(tensors[i].Data); err != nil {
			return err
		}
	}
	return nil
}

// validateTensors checks the tensors to write and returns their indices
// sorted by name. name labels errors.
func validateTensors(name string, tensors []Tensor) ([]int, error) {
	seen := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s: tensor %q: %s", name, t.Name, fmt.Sprintf(format, args...))
		}
		switch {
		case t.Name == "":
			return nil, bad("empty name")
		case t.Name == metadataKey:
			return nil, bad("the name is reserved for metadata")
		case !utf8.ValidString(t.Name):
			return nil, bad("name is not valid UTF-8")
		case seen[t.Name]:
			return nil, bad("duplicate tensor name")
		case !t.DType.valid():
			return nil, bad("invalid dtype %v", t.DType)
		}
		seen[t.Name] = true
		for i, d := range t.Shape {
			if d < 0 {
				return nil, bad("shape dimension %d is negative (%d)", i, d)
			}
		}
		need, ok := byteSize(t.Shape, t.DType)
		if !ok {
			return nil, bad("shape %v %s is too large", t.Shape, t.DType)
		}
		if uint64(len(t.Data)) != need {
			return nil, bad("data holds %d bytes, shape %v %s needs %d", len(t.Data), t.Shape, t.DType, need)
		}
	}
	order := make([]int, len(tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(tensors[a].Name, tensors[b].Name) })
	return order, nil
}

// jsonString encodes s as a JSON string without HTML escaping.
func jsonString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// encodeHeader builds the padded JSON header for tensors in order.
func encodeHeader(tensors []Tensor, order []int, metadata map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(metadata[k]) {
				return nil, fmt.Errorf("metadata key %q: key or value is not valid UTF-8", k)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf.WriteString(`"` + metadataKey + `":{`)
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(jsonString(k))
			buf.WriteByte(':')
			buf.Write(jsonString(metadata[k]))
		}
		buf.WriteByte('}')
	}
	var off int64
	for j, i := range order {
		t := tensors[i]
		if j > 0 || len(metadata) > 0 {
			buf.WriteByte(',')
		}
		buf.Write(jsonString(t.Name))
		buf.WriteString(`:{"dtype":"` + t.DType.String() + `","shape":[`)
		for k, d := range t.Shape {
			if k > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.Itoa(d))
		}
		end := off + int64(len(t.Data))
		fmt.Fprintf(&buf, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	buf.WriteByte('}')
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	if buf.Len() > MaxHeaderBytes {
		return nil, fmt.Errorf("header of %d bytes exceeds the %d MB limit", buf.Len(), MaxHeaderBytes>>20)
	}
	return buf.Bytes(), nil
}

// writeAtomic writes path through fn via a synced temporary file in the
// same directory that is renamed over path on success.
func writeAtomic(path string, fn func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("%s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := fn(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable where the platform allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // not supported everywhere (Windows); best effort
		d.Close()
	}
}

// WriteSharded writes tensors into dir as a checkpoint of shards holding at
// most maxShardBytes of tensor data each (a larger tensor gets a shard of
// its own), the way Hugging Face's save_pretrained does. Tensors are sorted
// by name and packed in that order. baseName is the file stem, normally
// "model" ("" means "model").
//
// When everything fits in one shard it writes <baseName>.safetensors;
// otherwise <baseName>-00001-of-0000N.safetensors ... plus
// <baseName>.safetensors.index.json with "metadata": {"total_size": bytes
// of tensor data} and "weight_map" from tensor name to shard file. Every
// shard carries metadata. Files of an earlier save in the other layout
// (the single file, the index, shards with this stem not written now) are
// removed, so that no loader picks up stale weights. It returns the paths
// written, shards first and the index last.
func WriteSharded(dir, baseName string, tensors []Tensor, metadata map[string]string, maxShardBytes int64) ([]string, error) {
	if baseName == "" {
		baseName = "model"
	}
	if strings.ContainsAny(baseName, `/\`) || baseName == "." || baseName == ".." {
		return nil, fmt.Errorf("%s: shard base name %q must be a plain file name", dir, baseName)
	}
	if maxShardBytes <= 0 {
		return nil, fmt.Errorf("%s: maximum shard size %d must be positive", dir, maxShardBytes)
	}
	single := filepath.Join(dir, baseName+".safetensors")
	indexPath := filepath.Join(dir, baseName+".safetensors.index.json")
	order, err := validateTensors(dir, tensors)
	if err != nil {
		return nil, err
	}

	var shards [][]Tensor
	var cur []Tensor
	var curBytes, total int64
	for _, i := range order {
		t := tensors[i]
		n := int64(len(t.Data))
		if len(cur) > 0 && curBytes+n > maxShardBytes {
			shards = append(shards, cur)
			cur, curBytes = nil, 0
		}
		cur = append(cur, t)
		curBytes += n
		total += n
	}
	if len(cur) > 0 || len(shards) == 0 {
		shards = append(shards, cur)
	}

	if len(shards) == 1 {
		if err := Write(single, shards[0], metadata); err != nil {
			return nil, err
		}
		if err := removeStale(dir, baseName, indexPath, nil); err != nil {
			return nil, err
		}
		return []string{single}, nil
	}

	var paths []string
	keep := make(map[string]bool)
	weightMap := make(map[string]string, len(tensors))
	for i, shard := range shards {
		name := fmt.Sprintf("%s-%05d-of-%05d.safetensors", baseName, i+1, len(shards))
		p := filepath.Join(dir, name)
		if err := Write(p, shard, metadata); err != nil {
			return nil, err
		}
		for _, t := range shard {
			weightMap[t.Name] = name
		}
		keep[name] = true
		paths = append(paths, p)
	}
	index := struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}{map[string]int64{"total_size": total}, weightMap}
	js, err := json.MarshalIndent(index, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", indexPath, err)
	}
	js = append(js, '\n')
	if err := writeAtomic(indexPath, func(w io.Writer) error {
		_, err := w.Write(js)
		return err
	}); err != nil {
		return nil, err
	}
	if err := removeStale(dir, baseName, single, keep); err != nil {
		return nil, err
	}
	return append(paths, indexPath), nil
}

// removeStale deletes other (the single file or the index of the other
// layout) and every shard file of baseName in dir not named in keep.
func removeStale(dir, baseName, other string, keep map[string]bool) error {
	var errs []error
	if err := os.Remove(other); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	shardRE := regexp.MustCompile(`^` + regexp.QuoteMeta(baseName) + `-\d{5}-of-\d{5}\.safetensors$`)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%s: removing stale shards: %w", dir, err)
	}
	for _, e := range entries {
		if shardRE.MatchString(e.Name()) && !keep[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: removing stale files: %w", dir, errors.Join(errs...))
	}
	return nil
}
