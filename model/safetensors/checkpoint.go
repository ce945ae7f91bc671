package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"
)

// The file names of a Hugging Face checkpoint directory.
const (
	SingleFileName = "model.safetensors"            // an unsharded checkpoint
	IndexFileName  = "model.safetensors.index.json" // the index of a sharded one
)

// maxIndexBytes bounds the size of an index file read into memory.
const maxIndexBytes = 100 << 20

// Checkpoint is the set of tensors of a model directory, held in one
// safetensors file or in several shards. Its methods may be called from
// several goroutines at once, but not concurrently with Close.
type Checkpoint struct {
	path  string  // the directory or file given to OpenModel
	files []*File // each shard once, in order of first mention
	names []string
	where map[string]*File
}

// OpenModel opens the weights of the Hugging Face model directory dir. If
// dir holds model.safetensors.index.json, every shard its weight_map names
// is opened once, and the checkpoint holds exactly the tensors of the
// weight_map; otherwise dir must hold model.safetensors. dir may also name
// a .safetensors file or an .index.json file directly.
//
// A directory with neither is an error that says so and mentions files in
// formats this package cannot read (GGUF, PyTorch .bin). A tensor listed in
// the index but absent from its shard, a shard that cannot be opened or a
// shard name that is not a plain file name is an error naming the index
// (and the shard).
func OpenModel(dir string) (*Checkpoint, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		if strings.HasSuffix(dir, ".index.json") {
			return openIndex(dir, dir)
		}
		return openSingle(dir, dir)
	}
	index := filepath.Join(dir, IndexFileName)
	if _, err := os.Stat(index); err == nil {
		return openIndex(dir, index)
	}
	single := filepath.Join(dir, SingleFileName)
	if _, err := os.Stat(single); err == nil {
		return openSingle(dir, single)
	}
	return nil, noModelError(dir)
}

func noModelError(dir string) error {
	msg := fmt.Sprintf("%s: no safetensors model found (looked for %s and %s)", dir, IndexFileName, SingleFileName)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%s; %w", msg, err)
	}
	var gguf, bin, other []string
	for _, e := range entries {
		n := e.Name()
		switch {
		case strings.HasSuffix(strings.ToLower(n), ".gguf"):
			gguf = append(gguf, n)
		case strings.HasPrefix(n, "pytorch_model") && strings.HasSuffix(n, ".bin"):
			bin = append(bin, n)
		case strings.HasSuffix(n, ".safetensors"):
			other = append(other, n)
		}
	}
	if len(gguf) > 0 {
		msg += fmt.Sprintf("; found %s, but GGUF files can't be read yet", strings.Join(gguf, ", "))
	}
	if len(bin) > 0 {
		msg += fmt.Sprintf("; found %s, but PyTorch .bin checkpoints can't be read yet (convert them to safetensors)", strings.Join(bin, ", "))
	}
	if len(other) > 0 {
		msg += fmt.Sprintf("; found %s, but a model's weights must be named %s or listed in %s", strings.Join(other, ", "), SingleFileName, IndexFileName)
	}
	return errors.New(msg)
}

func openSingle(label, path string) (*Checkpoint, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{path: label, files: []*File{f}, names: f.Names(), where: make(map[string]*File, len(f.infos))}
	for _, n := range c.names {
		c.where[n] = f
	}
	return c, nil
}

func openIndex(label, indexPath string) (_ *Checkpoint, err error) {
	ferr := func(tensor, format string, args ...any) error {
		return &FormatError{Path: indexPath, Tensor: tensor, Msg: fmt.Sprintf(format, args...)}
	}
	st, err := os.Stat(indexPath)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxIndexBytes {
		return nil, ferr("", "index of %d bytes exceeds the %d MB limit", st.Size(), maxIndexBytes>>20)
	}
	raw, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, err
	}

	// Walk the index token by token, like a header, so that a tensor
	// mapped twice is reported rather than merged.
	type entry struct{ name, shard string }
	var entries []entry
	haveMap := false
	err = walkObject(raw, "key", func(key string, val json.RawMessage) error {
		if key != "weight_map" {
			return nil
		}
		haveMap = true
		if k := jsonKind(val); k != "an object" {
			return ferr("", "weight_map is %s, not an object", k)
		}
		err := walkObject(val, "tensor name", func(name string, v json.RawMessage) error {
			var shard string
			if jsonKind(v) != "a string" || json.Unmarshal(v, &shard) != nil {
				return ferr(name, "weight_map value is %s, not a file name", jsonKind(v))
			}
			if shard == "" || shard == "." || shard == ".." || strings.ContainsAny(shard, `/\`) || filepath.IsAbs(shard) {
				return ferr(name, "weight_map names shard %q, which is not a plain file name in the index's directory", shard)
			}
			entries = append(entries, entry{name, shard})
			return nil
		})
		if we, ok := err.(*walkError); ok {
			return ferr("", "weight_map %v", we)
		}
		return err
	})
	if we, ok := err.(*walkError); ok {
		return nil, ferr("", "index %v", we)
	}
	if err != nil {
		return nil, err
	}
	if !haveMap {
		return nil, ferr("", "index has no \"weight_map\"")
	}
	if len(entries) == 0 {
		return nil, ferr("", "weight_map is empty")
	}

	ck := &Checkpoint{path: label, where: make(map[string]*File, len(entries))}
	defer func() {
		if err != nil {
			ck.Close()
		}
	}()
	dir := filepath.Dir(indexPath)
	shards := make(map[string]*File)
	for _, e := range entries {
		f, ok := shards[e.shard]
		if !ok {
			f, err = Open(filepath.Join(dir, e.shard))
			if err != nil {
				return nil, fmt.Errorf("%s: shard %s: %w", indexPath, e.shard, err)
			}
			shards[e.shard] = f
			ck.files = append(ck.files, f)
		}
		if _, ok := f.index[e.name]; !ok {
			return nil, ferr(e.name, "listed in weight_map under %s, but %s does not contain it", e.shard, f.path)
		}
		ck.where[e.name] = f
	}
	// Names: shard by shard, each in its file order.
	for _, f := range ck.files {
		for _, in := range f.infos {
			if ck.where[in.Name] == f {
				ck.names = append(ck.names, in.Name)
			}
		}
	}
	return ck, nil
}

// Close unmaps every shard. Slices that view them must not be used
// afterwards.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, f := range c.files {
		if err := f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Names returns the tensor names, shard by shard in file order.
func (c *Checkpoint) Names() []string { return slices.Clone(c.names) }

// Has reports whether the checkpoint holds the named tensor.
func (c *Checkpoint) Has(name string) bool {
	_, ok := c.where[name]
	return ok
}

// Info returns the description of the named tensor (Begin and End are
// relative to its shard's data section), and false if there is none.
func (c *Checkpoint) Info(name string) (Info, bool) {
	f, ok := c.where[name]
	if !ok {
		return Info{}, false
	}
	return f.Info(name)
}

// FileOf returns the path of the file holding the named tensor, or "" if
// there is none.
func (c *Checkpoint) FileOf(name string) string {
	if f, ok := c.where[name]; ok {
		return f.path
	}
	return ""
}

// Files returns the paths of the checkpoint's safetensors files.
func (c *Checkpoint) Files() []string {
	paths := make([]string, len(c.files))
	for i, f := range c.files {
		paths[i] = f.path
	}
	return paths
}

// SizeBytes returns the total size on disk of the checkpoint's safetensors
// files (not counting the index).
func (c *Checkpoint) SizeBytes() int64 {
	var n int64
	for _, f := range c.files {
		n += f.size
	}
	return n
}

func (c *Checkpoint) file(name string) (*File, error) {
	f, ok := c.where[name]
	if !ok {
		return nil, fmt.Errorf("%s: tensor %q: %w", c.path, name, ErrNotFound)
	}
	return f, nil
}

// Bytes returns the raw data of the named tensor, as File.Bytes does.
func (c *Checkpoint) Bytes(name string) ([]byte, error) {
	f, err := c.file(name)
	if err != nil {
		return nil, err
	}
	return f.Bytes(name)
}

// Float32 returns the named tensor as float32 values, as File.Float32 does.
func (c *Checkpoint) Float32(name string) ([]float32, error) {
	f, err := c.file(name)
	if err != nil {
		return nil, err
	}
	return f.Float32(name)
}

// Int32 returns the named tensor as int32 values, as File.Int32 does.
func (c *Checkpoint) Int32(name string) ([]int32, error) {
	f, err := c.file(name)
	if err != nil {
		return nil, err
	}
	return f.Int32(name)
}

// Maps reports whether v is a view of the named tensor's mapped bytes (as
// Float32 returns for aligned f32 data) rather than a converted copy.
func (c *Checkpoint) Maps(name string, v []float32) bool {
	b, err := c.Bytes(name)
	return err == nil && len(b) > 0 && len(v) > 0 && unsafe.Pointer(&b[0]) == unsafe.Pointer(&v[0])
}

// Release drops the named tensor's pages from the process's resident memory
// (they are read from disk again if used). Loaders call it after converting
// a tensor (e.g. quantizing it), so that loading a 4-bit model never holds
// the whole full-precision file in memory. Unknown names are ignored.
func (c *Checkpoint) Release(name string) {
	if f, ok := c.where[name]; ok && f.unmap != nil {
		if b, err := f.Bytes(name); err == nil {
			release(b)
		}
	}
}
