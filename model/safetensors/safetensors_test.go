package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

func TestDType(t *testing.T) {
	cases := []struct {
		d    DType
		name string
		size int
		fl   bool
	}{
		{F32, "F32", 4, true}, {F16, "F16", 2, true}, {BF16, "BF16", 2, true}, {F64, "F64", 8, true},
		{I64, "I64", 8, false}, {I32, "I32", 4, false}, {I16, "I16", 2, false}, {I8, "I8", 1, false},
		{U8, "U8", 1, false}, {BOOL, "BOOL", 1, false},
	}
	for _, c := range cases {
		if c.d.String() != c.name || c.d.Size() != c.size || c.d.IsFloat() != c.fl {
			t.Errorf("%d: String %q Size %d IsFloat %v, want %q %d %v", c.d, c.d, c.d.Size(), c.d.IsFloat(), c.name, c.size, c.fl)
		}
		if d, ok := ParseDType(c.name); !ok || d != c.d {
			t.Errorf("ParseDType(%q) = %v, %v", c.name, d, ok)
		}
	}
	if _, ok := ParseDType("f32"); ok {
		t.Error("ParseDType accepted lower-case f32")
	}
	if s := DType(0).String(); s != "DType(0)" {
		t.Errorf("DType(0).String() = %q", s)
	}
}

// randomTensor makes a tensor of dtype d with random contents of a valid
// pattern for that dtype, and the float64 value of each element.
func randomTensor(r *rand.Rand, name string, d DType, shape []int) (Tensor, []float64) {
	n := 1
	for _, s := range shape {
		n *= s
	}
	b := make([]byte, n*d.Size())
	vals := make([]float64, n)
	for i := range vals {
		switch d {
		case F32:
			v := float32(r.NormFloat64())
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
			vals[i] = float64(v)
		case F64:
			v := r.NormFloat64()
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
			vals[i] = v
		case F16:
			h := uint16(r.IntN(0x7c00)) | uint16(r.IntN(2))<<15 // any finite half
			binary.LittleEndian.PutUint16(b[2*i:], h)
			vals[i] = refF16ToF64(h)
		case BF16:
			h := uint16(r.IntN(0x7f80)) | uint16(r.IntN(2))<<15
			binary.LittleEndian.PutUint16(b[2*i:], h)
			vals[i] = float64(math.Float32frombits(uint32(h) << 16))
		case I64:
			v := int64(r.Int32()) - int64(r.Int32())
			binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
			vals[i] = float64(v)
		case I32:
			v := int32(r.Uint32())
			binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
			vals[i] = float64(v)
		case I16:
			v := int16(r.Uint32())
			binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
			vals[i] = float64(v)
		case I8:
			v := int8(r.Uint32())
			b[i] = byte(v)
			vals[i] = float64(v)
		case U8:
			b[i] = byte(r.Uint32())
			vals[i] = float64(b[i])
		case BOOL:
			b[i] = byte(r.IntN(2))
			vals[i] = float64(b[i])
		}
	}
	return Tensor{Name: name, DType: d, Shape: shape, Data: b}, vals
}

// TestRoundTrip writes tensors of every dtype (plus a scalar and an empty
// tensor), reads them back, and checks the header layout on disk.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var tensors []Tensor
	want := make(map[string][]float64)
	for d := BOOL; d >= F32; d-- { // reverse order, so the writer has to sort
		tn, vals := randomTensor(r, "t."+d.String(), d, []int{3, 5})
		tensors = append(tensors, tn)
		want[tn.Name] = vals
	}
	scalar, sv := randomTensor(r, "scalar", F64, []int{})
	empty, ev := randomTensor(r, "empty", F32, []int{0, 7})
	tensors = append(tensors, scalar, empty)
	want["scalar"], want["empty"] = sv, ev
	meta := map[string]string{"format": "pt", "note": `quotes " and <tags> & ünïcode`}

	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	if err := Write(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after Write, want only the file (no temp files)", len(entries))
	}

	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkInvariants(t, f)

	sorted := make([]string, len(tensors))
	for i, tn := range tensors {
		sorted[i] = tn.Name
	}
	slices.Sort(sorted)
	if got := f.Names(); !slices.Equal(got, sorted) {
		t.Errorf("Names() = %q, want sorted %q", got, sorted)
	}
	if got := f.Metadata(); !mapsEqual(got, meta) {
		t.Errorf("Metadata() = %q, want %q", got, meta)
	}
	var off int64
	for _, name := range sorted {
		var tn Tensor
		for _, x := range tensors {
			if x.Name == name {
				tn = x
			}
		}
		in, ok := f.Info(name)
		if !ok {
			t.Fatalf("Info(%q) missing", name)
		}
		if in.Name != name || in.DType != tn.DType || !slices.Equal(in.Shape, tn.Shape) ||
			in.Begin != off || in.End != off+int64(len(tn.Data)) {
			t.Errorf("Info(%q) = %+v, want %s %v at [%d %d]", name, in, tn.DType, tn.Shape, off, off+int64(len(tn.Data)))
		}
		off += int64(len(tn.Data))
		b, err := f.Bytes(name)
		if err != nil || !bytes.Equal(b, tn.Data) {
			t.Errorf("Bytes(%q) differ from what was written (err %v)", name, err)
		}
		vals := want[name]
		if tn.DType.IsFloat() {
			got, err := f.Float32(name)
			if err != nil {
				t.Fatalf("Float32(%q): %v", name, err)
			}
			if len(got) != len(vals) {
				t.Fatalf("Float32(%q) has %d values, want %d", name, len(got), len(vals))
			}
			for i := range got {
				if got[i] != float32(vals[i]) {
					t.Fatalf("Float32(%q)[%d] = %g, want %g", name, i, got[i], float32(vals[i]))
				}
			}
		} else if _, err := f.Float32(name); err == nil || !strings.Contains(err.Error(), "not a floating-point type") {
			t.Errorf("Float32(%q) of %s: error %v, want 'not a floating-point type'", name, tn.DType, err)
		}
		if tn.DType != BOOL && !tn.DType.IsFloat() {
			got, err := f.Int32(name)
			if tn.DType == I32 || tn.DType == I64 || tn.DType == I16 || tn.DType == I8 || tn.DType == U8 {
				if err != nil {
					t.Fatalf("Int32(%q): %v", name, err)
				}
				for i := range got {
					if float64(got[i]) != vals[i] {
						t.Fatalf("Int32(%q)[%d] = %d, want %g", name, i, got[i], vals[i])
					}
				}
			}
		} else if _, err := f.Int32(name); err == nil || !strings.Contains(err.Error(), "cannot be read as int32") {
			t.Errorf("Int32(%q) of %s: error %v, want 'cannot be read as int32'", name, tn.DType, err)
		}
	}

	// The header on disk: length a multiple of 8, space padded,
	// __metadata__ first, then the tensors in name order.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(raw)
	header := string(raw[8 : 8+n])
	if n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
	body := strings.TrimRight(header, " ")
	if len(header)-len(body) >= 8 || !strings.HasSuffix(body, "}") {
		t.Errorf("header padding is not 0-7 spaces after the object: %q", header[len(body):])
	}
	if !strings.HasPrefix(header, `{"__metadata__":`) {
		t.Errorf("header does not start with __metadata__: %.40q", header)
	}
	last := -1
	for _, name := range sorted {
		i := strings.Index(header, `"`+name+`":`)
		if i <= last {
			t.Errorf("tensor %q is not in name order in the header", name)
		}
		last = i
	}
	if uint64(len(raw)) != 8+n+uint64(off) {
		t.Errorf("file is %d bytes, want 8 + %d + %d", len(raw), n, off)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestWriteRejects(t *testing.T) {
	ok := F32Tensor("ok", []int{2}, []float32{1, 2})
	cases := []struct {
		name    string
		tensors []Tensor
		want    string
	}{
		{"duplicate name", []Tensor{ok, ok}, `tensor "ok": duplicate tensor name`},
		{"data length", []Tensor{F32Tensor("w", []int{2, 3}, []float32{1, 2})}, `tensor "w": data holds 8 bytes, shape [2 3] F32 needs 24`},
		{"negative dim", []Tensor{{Name: "n", DType: U8, Shape: []int{-1}}}, `tensor "n": shape dimension 0 is negative (-1)`},
		{"empty name", []Tensor{{Name: "", DType: U8, Shape: []int{0}}}, "empty name"},
		{"reserved name", []Tensor{{Name: "__metadata__", DType: U8, Shape: []int{0}}}, "reserved for metadata"},
		{"invalid dtype", []Tensor{{Name: "x", DType: 0, Shape: []int{0}}}, "invalid dtype DType(0)"},
		{"invalid UTF-8 name", []Tensor{{Name: "\xff", DType: U8, Shape: []int{0}}}, "not valid UTF-8"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "bad.safetensors")
			err := Write(path, c.tensors, nil)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Write error %v, want one naming %s and saying %q", err, path, c.want)
			}
			if _, err := os.Stat(path); err == nil {
				t.Error("a rejected Write left a file behind")
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("rejected writes left %d files behind", len(entries))
	}
}

// TestWriteReplacesMappedFile rewrites a file from a mapping of itself:
// the atomic rename keeps the old mapping valid.
func TestWriteReplacesMappedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := Write(path, []Tensor{F32Tensor("a", []int{3}, []float32{1, 2, 3})}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, _ := f.Bytes("a")
	if err := Write(path, []Tensor{{Name: "b", DType: F32, Shape: []int{3}, Data: b}}, nil); err != nil {
		t.Fatal(err)
	}
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	v, err := g.Float32("b")
	if err != nil || !slices.Equal(v, []float32{1, 2, 3}) {
		t.Errorf("rewritten tensor = %v, %v", v, err)
	}
	if old, _ := f.Float32("a"); !slices.Equal(old, []float32{1, 2, 3}) {
		t.Errorf("the old mapping changed: %v", old)
	}
}

// TestFloat32Views checks that aligned F32 and I32 data are views of the
// mapping, and that misaligned F32 data (after an odd-length F16 tensor)
// is copied correctly.
func TestFloat32Views(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mixed.safetensors")
	tensors := []Tensor{
		F16Tensor("a.half", []int{1}, []float32{0.5}),              // 2 bytes: what follows is misaligned
		F32Tensor("b.misaligned", []int{3}, []float32{1, -2, 3.5}), // data_offsets [2 14]
		F16Tensor("c.half", []int{1}, []float32{1}),                // [14 16]
		F32Tensor("d.aligned", []int{2}, []float32{4, 5}),          // [16 24]
		I32Tensor("e.ids", []int{2}, []int32{-1, 70000}),           // [24 32]
	}
	if err := Write(path, tensors, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if in, _ := f.Info("b.misaligned"); in.Begin%4 == 0 {
		t.Fatalf("test setup: b.misaligned starts at %d, want a misaligned offset", in.Begin)
	}
	mis, err := f.Float32("b.misaligned")
	if err != nil || !slices.Equal(mis, []float32{1, -2, 3.5}) {
		t.Errorf("misaligned Float32 = %v, %v", mis, err)
	}
	al, err := f.Float32("d.aligned")
	if err != nil || !slices.Equal(al, []float32{4, 5}) {
		t.Errorf("aligned Float32 = %v, %v", al, err)
	}
	ids, err := f.Int32("e.ids")
	if err != nil || !slices.Equal(ids, []int32{-1, 70000}) {
		t.Errorf("Int32 = %v, %v", ids, err)
	}
	if littleEndian {
		for name, p := range map[string]unsafe.Pointer{"d.aligned": unsafe.Pointer(&al[0]), "e.ids": unsafe.Pointer(&ids[0])} {
			b, _ := f.Bytes(name)
			if p != unsafe.Pointer(&b[0]) {
				t.Errorf("%s: aligned data was copied, want a view of the mapping", name)
			}
		}
		b, _ := f.Bytes("b.misaligned")
		if unsafe.Pointer(&mis[0]) == unsafe.Pointer(&b[0]) {
			t.Error("misaligned data was viewed in place")
		}
	}
}

func TestInt32Range(t *testing.T) {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, uint64(math.MaxInt32))
	binary.LittleEndian.PutUint64(b[8:], uint64(math.MaxInt32+1))
	path := filepath.Join(t.TempDir(), "ids.safetensors")
	if err := Write(path, []Tensor{{Name: "ids", DType: I64, Shape: []int{2}, Data: b}}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = f.Int32("ids")
	if err == nil || !strings.Contains(err.Error(), "I64 value 2147483648 at index 1 is out of int32 range") {
		t.Errorf("Int32 of an out-of-range I64: %v", err)
	}
}

func TestLookupErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "one.safetensors")
	if err := Write(path, []Tensor{F32Tensor("a", []int{1}, []float32{1})}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Info("nope"); ok {
		t.Error("Info of a missing tensor reported ok")
	}
	_, err = f.Float32("nope")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing tensor error %v, want ErrNotFound naming file and tensor", err)
	}
	if f.Metadata() != nil {
		t.Error("Metadata of a file without __metadata__ is not nil")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := f.Bytes("a"); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Bytes after Close: %v, want os.ErrClosed", err)
	}
	if _, err := Open(filepath.Dir(path)); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("Open of a directory: %v", err)
	}
	if _, err := Open(filepath.Join(filepath.Dir(path), "missing.safetensors")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a missing file: %v", err)
	}
}

// TestOpenDoesNotCopy opens a ~20 MB F32 file and reads it with Float32:
// the heap must grow by far less than the file (the data is mapped).
func TestOpenDoesNotCopy(t *testing.T) {
	const n = 5 << 20 // 20 MiB of float32
	path := filepath.Join(t.TempDir(), "big.safetensors")
	func() {
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(i % 1000)
		}
		if err := Write(path, []Tensor{F32Tensor("big", []int{n / 1024, 1024}, data)}, nil); err != nil {
			t.Fatal(err)
		}
	}()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := f.Float32("big")
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if len(v) != n || v[1234] != 234 || v[n-1] != float32((n-1)%1000) {
		t.Fatalf("Float32 read wrong values: len %d, v[1234] = %g", len(v), v[1234])
	}
	t.Logf("file %d bytes, heap growth %d bytes", st.Size(), growth)
	if growth > st.Size()/10 {
		t.Errorf("heap grew by %d bytes opening and reading a %d-byte file; the data was copied", growth, st.Size())
	}
	runtime.KeepAlive(f)
	runtime.KeepAlive(v)
}

// loadConfig reads the fields of a Llama config.json that decide tensor
// shapes.
type llamaConfig struct {
	Vocab   int `json:"vocab_size"`
	Hidden  int `json:"hidden_size"`
	FFN     int `json:"intermediate_size"`
	Layers  int `json:"num_hidden_layers"`
	Heads   int `json:"num_attention_heads"`
	KVHeads int `json:"num_key_value_heads"`
}

func loadConfig(t *testing.T, path string) llamaConfig {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c llamaConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// naiveHeader decodes a trusted file's header the simple way (into a map),
// as an independent check of the parser on valid files.
type naiveEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int   `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

func naiveRead(t *testing.T, path string) (map[string]naiveEntry, []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(raw)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &m); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]naiveEntry)
	for k, v := range m {
		if k == "__metadata__" {
			continue
		}
		var e naiveEntry
		if err := json.Unmarshal(v, &e); err != nil {
			t.Fatal(err)
		}
		out[k] = e
	}
	return out, raw[8+n:]
}

// checkAgainstNaive compares every tensor of f with the naive decoding.
func checkAgainstNaive(t *testing.T, f *File) {
	t.Helper()
	naive, data := naiveRead(t, f.Path())
	if len(naive) != len(f.Names()) {
		t.Fatalf("%d tensors, the naive reader finds %d", len(f.Names()), len(naive))
	}
	for name, e := range naive {
		in, ok := f.Info(name)
		if !ok {
			t.Fatalf("tensor %q missing", name)
		}
		if in.DType.String() != e.DType || !slices.Equal(in.Shape, e.Shape) || in.Begin != e.DataOffsets[0] || in.End != e.DataOffsets[1] {
			t.Errorf("%q: Info %+v, header says %+v", name, in, e)
		}
		raw := data[e.DataOffsets[0]:e.DataOffsets[1]]
		switch e.DType {
		case "F32":
			v, err := f.Float32(name)
			if err != nil {
				t.Fatal(err)
			}
			for i := range v {
				if w := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); math.Float32bits(v[i]) != math.Float32bits(w) {
					t.Fatalf("%q[%d] = %g, file holds %g", name, i, v[i], w)
				}
			}
		case "I32":
			v, err := f.Int32(name)
			if err != nil {
				t.Fatal(err)
			}
			for i := range v {
				if w := int32(binary.LittleEndian.Uint32(raw[4*i:])); v[i] != w {
					t.Fatalf("%q[%d] = %d, file holds %d", name, i, v[i], w)
				}
			}
		}
	}
}

// TestStories260K reads the real stories260K checkpoint and checks every
// tensor name and shape against its config.json.
func TestStories260K(t *testing.T) {
	dir := filepath.Join(fixturesDir(t), "models", "stories260K")
	cfg := loadConfig(t, filepath.Join(dir, "config.json"))
	hd := cfg.Hidden / cfg.Heads
	want := map[string][]int{
		"model.embed_tokens.weight": {cfg.Vocab, cfg.Hidden},
		"model.norm.weight":         {cfg.Hidden},
	}
	for l := 0; l < cfg.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		want[p+"input_layernorm.weight"] = []int{cfg.Hidden}
		want[p+"post_attention_layernorm.weight"] = []int{cfg.Hidden}
		want[p+"self_attn.q_proj.weight"] = []int{cfg.Heads * hd, cfg.Hidden}
		want[p+"self_attn.k_proj.weight"] = []int{cfg.KVHeads * hd, cfg.Hidden}
		want[p+"self_attn.v_proj.weight"] = []int{cfg.KVHeads * hd, cfg.Hidden}
		want[p+"self_attn.o_proj.weight"] = []int{cfg.Hidden, cfg.Heads * hd}
		want[p+"mlp.gate_proj.weight"] = []int{cfg.FFN, cfg.Hidden}
		want[p+"mlp.up_proj.weight"] = []int{cfg.FFN, cfg.Hidden}
		want[p+"mlp.down_proj.weight"] = []int{cfg.Hidden, cfg.FFN}
	}

	path := filepath.Join(dir, "model.safetensors")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkInvariants(t, f)
	checkAgainstNaive(t, f)
	names := f.Names()
	if len(names) != len(want) {
		t.Errorf("%d tensors, config implies %d", len(names), len(want))
	}
	for _, n := range names {
		in, _ := f.Info(n)
		if w, ok := want[n]; !ok {
			t.Errorf("unexpected tensor %q", n)
		} else if !slices.Equal(in.Shape, w) || in.DType != F32 {
			t.Errorf("%q: %s %v, want F32 %v", n, in.DType, in.Shape, w)
		}
	}
	if in, _ := f.Info("model.embed_tokens.weight"); !slices.Equal(in.Shape, []int{512, 64}) {
		t.Errorf("model.embed_tokens.weight shape %v, want [512 64]", in.Shape)
	}
	if names[0] != "model.embed_tokens.weight" || names[1] != "model.layers.0.input_layernorm.weight" {
		t.Errorf("names not in file order: %q", names[:2])
	}
	if got := f.Metadata()["format"]; got != "pt" {
		t.Errorf(`metadata["format"] = %q, want "pt"`, got)
	}

	// The same through OpenModel on the directory.
	c, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, _ := os.Stat(path)
	if !slices.Equal(c.Names(), names) || c.SizeBytes() != st.Size() || c.FileOf("model.norm.weight") != path {
		t.Errorf("OpenModel: %d names, SizeBytes %d (file %d), FileOf %q", len(c.Names()), c.SizeBytes(), st.Size(), c.FileOf("model.norm.weight"))
	}
	a, _ := f.Float32("model.norm.weight")
	b, err := c.Float32("model.norm.weight")
	if err != nil || !slices.Equal(a, b) {
		t.Errorf("Checkpoint.Float32 differs from File.Float32: %v", err)
	}
}

// TestForwardGolden reads the PyTorch golden forward file: I32 input ids
// (checked against tokens.json) and F32 activations.
func TestForwardGolden(t *testing.T) {
	gdir := filepath.Join(goldenDir(t), "stories260K")
	cfg := loadConfig(t, filepath.Join(fixturesDir(t), "models", "stories260K", "config.json"))
	raw, err := os.ReadFile(filepath.Join(gdir, "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tokens struct{ Forward [][]int32 }
	if err := json.Unmarshal(raw, &tokens); err != nil {
		t.Fatal(err)
	}
	B, T := len(tokens.Forward), len(tokens.Forward[0])

	f, err := Open(filepath.Join(gdir, "forward.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkInvariants(t, f)
	checkAgainstNaive(t, f)

	ids, err := f.Int32("input_ids")
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := f.Info("input_ids"); in.DType != I32 || !slices.Equal(in.Shape, []int{B, T}) {
		t.Errorf("input_ids: %s %v, want I32 [%d %d]", in.DType, in.Shape, B, T)
	}
	if !slices.Equal(ids, slices.Concat(tokens.Forward...)) {
		t.Errorf("input_ids %v differ from tokens.json %v", ids, tokens.Forward)
	}
	if _, err := f.Float32("input_ids"); err == nil {
		t.Error("Float32 of an I32 tensor did not fail")
	}

	shapes := map[string][]int{"logits": {B, T, cfg.Vocab}}
	for l := 0; l <= cfg.Layers; l++ {
		shapes[fmt.Sprintf("hidden.%d", l)] = []int{B, T, cfg.Hidden}
	}
	for name, shape := range shapes {
		in, ok := f.Info(name)
		if !ok || in.DType != F32 || !slices.Equal(in.Shape, shape) {
			t.Errorf("%s: %v %s %v, want F32 %v", name, ok, in.DType, in.Shape, shape)
			continue
		}
		v, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("%s[%d] = %g", name, i, x)
			}
		}
	}
}
