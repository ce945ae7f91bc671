package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// shardTensors makes a set of tensors of mixed sizes and dtypes.
func shardTensors() []Tensor {
	r := rand.New(rand.NewPCG(5, 6))
	var ts []Tensor
	dtypes := []DType{F32, F16, BF16, I32, U8}
	for i := 0; i < 12; i++ {
		tn, _ := randomTensor(r, fmt.Sprintf("layers.%02d.w", i), dtypes[i%len(dtypes)], []int{1 + i*7, 9})
		ts = append(ts, tn)
	}
	return ts
}

type indexFile struct {
	Metadata  map[string]int64  `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

func readIndex(t *testing.T, path string) indexFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var idx indexFile
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

func TestShardedRoundTrip(t *testing.T) {
	tensors := shardTensors()
	var total int64
	byName := make(map[string]Tensor)
	for _, tn := range tensors {
		total += int64(len(tn.Data))
		byName[tn.Name] = tn
	}
	const maxShard = 1500
	dir := t.TempDir()
	paths, err := WriteSharded(dir, "model", tensors, map[string]string{"format": "pt"}, maxShard)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 3 {
		t.Fatalf("WriteSharded wrote %v, want several shards and an index", paths)
	}
	shards, indexPath := paths[:len(paths)-1], paths[len(paths)-1]
	if indexPath != filepath.Join(dir, IndexFileName) {
		t.Errorf("index written to %s", indexPath)
	}
	nameRE := regexp.MustCompile(fmt.Sprintf(`^model-\d{5}-of-%05d\.safetensors$`, len(shards)))
	for i, p := range shards {
		if want := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards)); filepath.Base(p) != want || !nameRE.MatchString(want) {
			t.Errorf("shard %d is %s, want %s", i, filepath.Base(p), want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, SingleFileName)); err == nil {
		t.Error("a sharded write also left model.safetensors")
	}

	// The index: total_size and a weight_map covering every tensor.
	idx := readIndex(t, indexPath)
	if idx.Metadata["total_size"] != total {
		t.Errorf("total_size %d, want %d", idx.Metadata["total_size"], total)
	}
	if len(idx.WeightMap) != len(tensors) {
		t.Errorf("weight_map has %d entries, want %d", len(idx.WeightMap), len(tensors))
	}

	// Packing: shards hold consecutive sorted names, each within the limit
	// (unless a single tensor exceeds it), and greedy: the next shard's
	// first tensor would not have fitted.
	var sortedNames []string
	for _, p := range shards {
		f, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, f)
		var bytes int64
		for _, n := range f.Names() {
			bytes += int64(len(byName[n].Data))
			if idx.WeightMap[n] != filepath.Base(p) {
				t.Errorf("weight_map puts %q in %s, it is in %s", n, idx.WeightMap[n], filepath.Base(p))
			}
		}
		if bytes > maxShard && len(f.Names()) > 1 {
			t.Errorf("%s holds %d bytes in %d tensors, over the %d limit", p, bytes, len(f.Names()), maxShard)
		}
		if f.Metadata()["format"] != "pt" {
			t.Errorf("%s lacks the metadata", p)
		}
		sortedNames = append(sortedNames, f.Names()...)
		f.Close()
	}
	if !sort.StringsAreSorted(sortedNames) || len(sortedNames) != len(tensors) {
		t.Errorf("shards hold %q, want every tensor once in name order", sortedNames)
	}

	c, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !slices.Equal(c.Names(), sortedNames) {
		t.Errorf("Names() = %q, want %q", c.Names(), sortedNames)
	}
	var size int64
	for _, p := range shards {
		st, _ := os.Stat(p)
		size += st.Size()
	}
	if c.SizeBytes() != size {
		t.Errorf("SizeBytes() = %d, want %d", c.SizeBytes(), size)
	}
	if !slices.Equal(c.Files(), shards) {
		t.Errorf("Files() = %q, want %q", c.Files(), shards)
	}
	for _, tn := range tensors {
		if !c.Has(tn.Name) {
			t.Errorf("Has(%q) = false", tn.Name)
		}
		if got := c.FileOf(tn.Name); got != filepath.Join(dir, idx.WeightMap[tn.Name]) {
			t.Errorf("FileOf(%q) = %s, want %s", tn.Name, got, idx.WeightMap[tn.Name])
		}
		b, err := c.Bytes(tn.Name)
		if err != nil || !bytes.Equal(b, tn.Data) {
			t.Errorf("Bytes(%q) differ (err %v)", tn.Name, err)
		}
		in, ok := c.Info(tn.Name)
		if !ok || in.DType != tn.DType || !slices.Equal(in.Shape, tn.Shape) {
			t.Errorf("Info(%q) = %+v", tn.Name, in)
		}
		if tn.DType.IsFloat() {
			if _, err := c.Float32(tn.Name); err != nil {
				t.Errorf("Float32(%q): %v", tn.Name, err)
			}
		}
	}
	if c.Has("nope") || c.FileOf("nope") != "" {
		t.Error("Has/FileOf report a tensor that does not exist")
	}
	if _, err := c.Float32("nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), dir) {
		t.Errorf("Float32 of a missing tensor: %v", err)
	}
}

// TestShardedLayoutSwitch rewrites a directory from sharded to single and
// back, and checks that the files of the other layout are removed.
func TestShardedLayoutSwitch(t *testing.T) {
	tensors := shardTensors()
	dir := t.TempDir()
	keep := filepath.Join(dir, "config.json")
	os.WriteFile(keep, []byte("{}"), 0o644)
	if _, err := WriteSharded(dir, "", tensors, nil, 1000); err != nil {
		t.Fatal(err)
	}
	paths, err := WriteSharded(dir, "model", tensors, nil, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || paths[0] != filepath.Join(dir, SingleFileName) {
		t.Errorf("a fitting write produced %v, want only model.safetensors", paths)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"config.json", SingleFileName}) {
		t.Errorf("after a single-file write the directory holds %q", names)
	}
	c, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Names()) != len(tensors) {
		t.Errorf("single-file checkpoint has %d tensors", len(c.Names()))
	}
	c.Close()

	if _, err := WriteSharded(dir, "model", tensors, nil, 2000); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, SingleFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("model.safetensors survived a sharded write: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("an unrelated file was removed: %v", err)
	}
}

func TestWriteShardedRejects(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		base string
		max  int64
		want string
	}{
		{"model", 0, "maximum shard size 0 must be positive"},
		{"../model", 100, "must be a plain file name"},
	} {
		if _, err := WriteSharded(dir, c.base, shardTensors(), nil, c.max); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("WriteSharded(%q, %d): %v, want %q", c.base, c.max, err, c.want)
		}
	}
	dup := append(shardTensors(), shardTensors()[0])
	if _, err := WriteSharded(dir, "model", dup, nil, 100); err == nil || !strings.Contains(err.Error(), "duplicate tensor name") {
		t.Errorf("WriteSharded with a duplicate: %v", err)
	}
}

// TestOpenModelIndexDefects breaks a valid sharded checkpoint's index in
// one way per case and checks the error names the index and the defect.
func TestOpenModelIndexDefects(t *testing.T) {
	src := t.TempDir()
	paths, err := WriteSharded(src, "model", shardTensors(), nil, 1500)
	if err != nil {
		t.Fatal(err)
	}
	shard1 := filepath.Base(paths[0])
	good, err := os.ReadFile(paths[len(paths)-1])
	if err != nil {
		t.Fatal(err)
	}
	withEntry := func(name, file string) string {
		return strings.Replace(string(good), `"weight_map": {`, `"weight_map": {`+"\n    "+fmt.Sprintf("%q: %q,", name, file), 1)
	}
	cases := []struct {
		name  string
		index string
		want  []string
	}{
		{"tensor missing in its shard", withEntry("ghost.weight", shard1),
			[]string{`tensor "ghost.weight"`, "listed in weight_map under " + shard1, filepath.Join("%DIR%", shard1) + " does not contain it"}},
		{"shard file missing", withEntry("ghost.weight", "model-00099-of-00099.safetensors"),
			[]string{"shard model-00099-of-00099.safetensors", "no such file"}},
		{"shard outside the directory", withEntry("ghost.weight", "../model.safetensors"),
			[]string{`tensor "ghost.weight"`, "not a plain file name"}},
		{"duplicate tensor", withEntry("layers.00.w", shard1), []string{`weight_map has a duplicate tensor name "layers.00.w"`}},
		{"shard not a string", strings.Replace(withEntry("x", shard1), `"x": "`+shard1+`"`, `"x": 3`, 1),
			[]string{`tensor "x"`, "weight_map value is a number, not a file name"}},
		{"no weight_map", `{"metadata": {"total_size": 1}}`, []string{`index has no "weight_map"`}},
		{"weight_map not an object", `{"weight_map": []}`, []string{"weight_map is an array, not an object"}},
		{"empty weight_map", `{"weight_map": {}}`, []string{"weight_map is empty"}},
		{"index not JSON", `{"weight_map": `, []string{"index is not valid JSON"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, p := range paths[:len(paths)-1] {
				data, _ := os.ReadFile(p)
				os.WriteFile(filepath.Join(dir, filepath.Base(p)), data, 0o644)
			}
			index := filepath.Join(dir, IndexFileName)
			os.WriteFile(index, []byte(c.index), 0o644)
			ck, err := OpenModel(dir)
			if err == nil {
				ck.Close()
				t.Fatal("OpenModel accepted the index")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, index+": ") {
				t.Errorf("error %q does not start with the index path", msg)
			}
			for _, w := range c.want {
				if w = strings.ReplaceAll(w, "%DIR%", dir); !strings.Contains(msg, w) {
					t.Errorf("error %q\ndoes not say %q", msg, w)
				}
			}
		})
	}
}

func TestOpenModelNoWeights(t *testing.T) {
	cases := []struct {
		name  string
		files []string
		want  []string
	}{
		{"empty", nil, []string{"no safetensors model found"}},
		{"gguf", []string{"tiny.gguf", "config.json"}, []string{"no safetensors model found", "found tiny.gguf", "GGUF files can't be read yet"}},
		{"pytorch", []string{"pytorch_model.bin"}, []string{"found pytorch_model.bin", "PyTorch .bin checkpoints can't be read yet"}},
		{"other name", []string{"adapter_model.safetensors"}, []string{"found adapter_model.safetensors", "must be named model.safetensors"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range c.files {
				os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644)
			}
			_, err := OpenModel(dir)
			if err == nil {
				t.Fatal("OpenModel succeeded")
			}
			if !strings.HasPrefix(err.Error(), dir+": ") {
				t.Errorf("error %q does not start with the directory", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if _, err := OpenModel(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenModel of a missing directory: %v", err)
	}
}

// TestOpenModelPaths opens a checkpoint through a .safetensors path and an
// index path instead of the directory.
func TestOpenModelPaths(t *testing.T) {
	dir := t.TempDir()
	single := filepath.Join(dir, "weights.safetensors")
	if err := Write(single, shardTensors()[:2], nil); err != nil {
		t.Fatal(err)
	}
	c, err := OpenModel(single)
	if err != nil || len(c.Names()) != 2 {
		t.Fatalf("OpenModel(file): %v", err)
	}
	c.Close()
	sdir := t.TempDir()
	paths, err := WriteSharded(sdir, "model", shardTensors(), nil, 1000)
	if err != nil {
		t.Fatal(err)
	}
	c, err = OpenModel(paths[len(paths)-1])
	if err != nil || len(c.Names()) != len(shardTensors()) {
		t.Fatalf("OpenModel(index): %v", err)
	}
	c.Close()
}
