package gguf_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	parser "github.com/gpustack/gguf-parser-go"

	"github.com/fynetune/fynetune/internal/testenv"
	"github.com/fynetune/fynetune/model/gguf"
	"github.com/fynetune/fynetune/model/safetensors"
)

func randValues(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// allKVs holds one value of every type the writer accepts.
func allKVs() []gguf.KV {
	return []gguf.KV{
		{Key: "general.architecture", Value: "llama"},
		{Key: "t.u8", Value: uint8(200)},
		{Key: "t.i8", Value: int8(-100)},
		{Key: "t.u16", Value: uint16(60000)},
		{Key: "t.i16", Value: int16(-30000)},
		{Key: "t.u32", Value: uint32(4000000000)},
		{Key: "t.i32", Value: int32(-2000000000)},
		{Key: "t.f32", Value: float32(1e-5)},
		{Key: "t.bool", Value: true},
		{Key: "t.str", Value: "héllo {{ .Prompt }}"},
		{Key: "t.u64", Value: uint64(1) << 60},
		{Key: "t.i64", Value: int64(-1) << 60},
		{Key: "t.f64", Value: math.Pi},
		{Key: "t.strs", Value: []string{"<s>", "", "▁the", "Ġa"}},
		{Key: "t.u8s", Value: []uint8{1, 2, 3}},
		{Key: "t.i8s", Value: []int8{-1, 2}},
		{Key: "t.bools", Value: []bool{true, false}},
		{Key: "t.u16s", Value: []uint16{1, 65535}},
		{Key: "t.i16s", Value: []int16{-1, 7}},
		{Key: "t.u32s", Value: []uint32{5, 6}},
		{Key: "t.i32s", Value: []int32{1, 3, 6}},
		{Key: "t.f32s", Value: []float32{0, -1.5, 1e9}},
		{Key: "t.u64s", Value: []uint64{9}},
		{Key: "t.i64s", Value: []int64{-9}},
		{Key: "t.f64s", Value: []float64{2.5}},
		{Key: "t.empty", Value: []string{}},
	}
}

type wantTensor struct {
	t    gguf.Tensor
	vals []float32 // values encoded
	tol  float64   // largest decode error allowed
}

func testTensors() []wantTensor {
	var out []wantTensor
	for i, c := range []struct {
		name  string
		typ   gguf.Type
		shape []int
		tol   float64
	}{
		{"token_embd.weight", gguf.F32, []int{5, 64}, 0},
		{"blk.0.attn_norm.weight", gguf.F32, []int{64}, 0},
		{"blk.0.attn_q.weight", gguf.F16, []int{3, 7}, 2e-3},
		{"blk.0.attn_k.weight", gguf.BF16, []int{2, 5}, 2e-2},
		{"blk.0.ffn_up.weight", gguf.Q8_0, []int{4, 64}, 0.05},
		{"blk.0.ffn_down.weight", gguf.Q4_0, []int{2, 96}, 0.6},
		{"blk.0.four_d", gguf.F32, []int{2, 1, 3, 2}, 0},
	} {
		rows, cols := 1, c.shape[len(c.shape)-1]
		for _, d := range c.shape[:len(c.shape)-1] {
			rows *= d
		}
		v := randValues(rows*cols, uint64(i))
		data, err := gguf.Encode(c.typ, v, rows, cols)
		if err != nil {
			panic(err)
		}
		t := gguf.Tensor{Name: c.name, Type: c.typ, Shape: c.shape, Data: data}
		if i%2 == 1 { // produce some lazily
			t.Data = nil
			t.Encode = func() ([]byte, error) { return data, nil }
		}
		out = append(out, wantTensor{t: t, vals: v, tol: c.tol})
	}
	return out
}

func writeTest(t *testing.T, kvs []gguf.KV, wts []wantTensor) string {
	t.Helper()
	ts := make([]gguf.Tensor, len(wts))
	for i, w := range wts {
		ts[i] = w.t
	}
	p := filepath.Join(t.TempDir(), "test.gguf")
	if err := gguf.WriteFile(p, kvs, ts); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRoundTrip writes every value type and tensor type and reads the file
// back with our reader and with gguf-parser-go.
func TestRoundTrip(t *testing.T) {
	kvs, wts := allKVs(), testTensors()
	p := writeTest(t, kvs, wts)

	f, err := gguf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Version != 3 || f.Alignment != 32 {
		t.Errorf("version %d alignment %d", f.Version, f.Alignment)
	}
	if !reflect.DeepEqual(f.KVs, kvs) {
		for i := range kvs {
			if i >= len(f.KVs) || !reflect.DeepEqual(f.KVs[i], kvs[i]) {
				t.Errorf("kv %d: got %#v, want %#v", i, f.KVs[min(i, len(f.KVs)-1)], kvs[i])
			}
		}
	}
	for _, w := range wts {
		ti, ok := f.Tensor(w.t.Name)
		if !ok {
			t.Fatalf("tensor %s missing", w.t.Name)
		}
		if ti.Type != w.t.Type || !reflect.DeepEqual(ti.Shape(), w.t.Shape) || ti.Offset%32 != 0 {
			t.Errorf("%s: %s %v offset %d, want %s %v", w.t.Name, ti.Type, ti.Shape(), ti.Offset, w.t.Type, w.t.Shape)
		}
		got, err := f.Float32(w.t.Name)
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		for i := range got {
			worst = math.Max(worst, math.Abs(float64(got[i]-w.vals[i])))
		}
		if worst > w.tol {
			t.Errorf("%s (%s): decoded values off by %g (allowed %g)", w.t.Name, w.t.Type, worst, w.tol)
		}
	}

	// gguf-parser-go sees the same header, metadata, tensor infos and data.
	pf, err := parser.ParseGGUFFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if pf.Header.Version != parser.GGUFVersionV3 || int(pf.Header.TensorCount) != len(wts) || int(pf.Header.MetadataKVCount) != len(kvs) {
		t.Errorf("parser header %+v", pf.Header)
	}
	if pf.TensorDataStartOffset != f.DataOffset {
		t.Errorf("parser data offset %d, ours %d", pf.TensorDataStartOffset, f.DataOffset)
	}
	checkParserKVs(t, pf, kvs)
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wts {
		var pi *parser.GGUFTensorInfo
		for i := range pf.TensorInfos {
			if pf.TensorInfos[i].Name == w.t.Name {
				pi = &pf.TensorInfos[i]
			}
		}
		if pi == nil {
			t.Fatalf("parser: tensor %s missing", w.t.Name)
		}
		ours, _ := f.Tensor(w.t.Name)
		if uint32(pi.Type) != uint32(w.t.Type) || !reflect.DeepEqual(pi.Dimensions, ours.Dims) || int64(pi.Bytes()) != ours.Size {
			t.Errorf("parser: %s is type %d dims %v bytes %d; ours %s %v %d", w.t.Name, pi.Type, pi.Dimensions, pi.Bytes(), ours.Type, ours.Dims, ours.Size)
		}
		start := pf.TensorDataStartOffset + int64(pi.Offset)
		data := w.t.Data
		if data == nil {
			data, _ = w.t.Encode()
		}
		if !bytes.Equal(raw[start:start+int64(len(data))], data) {
			t.Errorf("parser: data of %s at %d differs from what was written", w.t.Name, start)
		}
	}
}

// checkParserKVs compares gguf-parser-go's view of the metadata with ours.
func checkParserKVs(t *testing.T, pf *parser.GGUFFile, kvs []gguf.KV) {
	t.Helper()
	for _, kv := range kvs {
		pv, ok := pf.Header.MetadataKV.Get(kv.Key)
		if !ok {
			t.Errorf("parser: key %s missing", kv.Key)
			continue
		}
		var got any
		switch kv.Value.(type) {
		case uint8:
			got = pv.ValueUint8()
		case int8:
			got = pv.ValueInt8()
		case uint16:
			got = pv.ValueUint16()
		case int16:
			got = pv.ValueInt16()
		case uint32:
			got = pv.ValueUint32()
		case int32:
			got = pv.ValueInt32()
		case float32:
			got = pv.ValueFloat32()
		case bool:
			got = pv.ValueBool()
		case string:
			got = pv.ValueString()
		case uint64:
			got = pv.ValueUint64()
		case int64:
			got = pv.ValueInt64()
		case float64:
			got = pv.ValueFloat64()
		case []string:
			got = pv.ValueArray().ValuesString()
		case []int32:
			got = pv.ValueArray().ValuesInt32()
		case []float32:
			got = pv.ValueArray().ValuesFloat32()
		case []uint32:
			got = pv.ValueArray().ValuesUint32()
		case []bool:
			got = pv.ValueArray().ValuesBool()
		case []uint8:
			got = pv.ValueArray().ValuesUint8()
		case []int8:
			got = pv.ValueArray().ValuesInt8()
		case []uint16:
			got = pv.ValueArray().ValuesUint16()
		case []int16:
			got = pv.ValueArray().ValuesInt16()
		case []uint64:
			got = pv.ValueArray().ValuesUint64()
		case []int64:
			got = pv.ValueArray().ValuesInt64()
		case []float64:
			got = pv.ValueArray().ValuesFloat64()
		}
		if !reflect.DeepEqual(got, kv.Value) && !(reflect.ValueOf(kv.Value).Kind() == reflect.Slice && reflect.ValueOf(kv.Value).Len() == 0 && reflect.ValueOf(got).Len() == 0) {
			t.Errorf("parser: %s = %#v, want %#v", kv.Key, got, kv.Value)
		}
	}
}

// TestQuantGolden checks that Q8_0 and Q4_0 tensors hold exactly the bytes
// llama.cpp writes for the golden input.
func TestQuantGolden(t *testing.T) {
	g, err := safetensors.Open(testenv.Golden(t, "quant", "quant.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	in, err := g.Float32("input")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := g.Info("input")
	rows, cols := info.Shape[0], info.Shape[1]
	for _, c := range []struct {
		typ gguf.Type
		key string
	}{{gguf.Q8_0, "q8_0"}, {gguf.Q4_0, "q4_0"}} {
		want, err := g.Bytes(c.key + ".bytes")
		if err != nil {
			t.Fatal(err)
		}
		got, err := gguf.Encode(c.typ, in, rows, cols)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: encoded bytes differ from llama.cpp's", c.typ)
		}
		deq, err := gguf.Decode(c.typ, got, rows, cols)
		if err != nil {
			t.Fatal(err)
		}
		wantDeq, _ := g.Float32(c.key + ".dequant")
		if !reflect.DeepEqual(deq, wantDeq) {
			t.Errorf("%s: decoded values differ from llama.cpp's", c.typ)
		}
	}
}

// TestFixture reads the Ollama test GGUF: metadata, tokenizer, tensors.
func TestFixture(t *testing.T) {
	p := testenv.Fixture(t, "models", "llama-2-tiny-random.gguf")
	f, err := gguf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Architecture() != "llama" || f.Version != 3 {
		t.Errorf("architecture %q version %d", f.Architecture(), f.Version)
	}
	for key, want := range map[string]uint64{"llama.block_count": 1, "llama.embedding_length": 8, "llama.attention.head_count": 2,
		"llama.feed_forward_length": 32, "llama.context_length": 4096, "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2} {
		if got, ok := f.GetUint(key); !ok || got != want {
			t.Errorf("%s = %d (%v), want %d", key, got, ok, want)
		}
	}
	if eps, ok := f.GetFloat("llama.attention.layer_norm_rms_epsilon"); !ok || math.Abs(eps-1e-5) > 1e-9 {
		t.Errorf("rms eps %g", eps)
	}
	if m, _ := f.GetString("tokenizer.ggml.model"); m != "llama" {
		t.Errorf("tokenizer model %q", m)
	}
	toks, ok := f.GetStrings("tokenizer.ggml.tokens")
	if !ok || len(toks) != 32000 || toks[1] != "<s>" || toks[2] != "</s>" || toks[3] != "<0x00>" {
		t.Fatalf("tokens: %d, %q", len(toks), toks[:4])
	}
	types, _ := f.Get("tokenizer.ggml.token_type")
	if tt, ok := types.([]int32); !ok || len(tt) != 32000 || tt[0] != 2 || tt[1] != 3 || tt[3] != 6 {
		t.Errorf("token types %T", types)
	}
	if len(f.Tensors) != 12 {
		t.Errorf("%d tensors, want 12", len(f.Tensors))
	}
	emb, ok := f.Tensor("token_embd.weight")
	if !ok || emb.Type != gguf.F16 || !reflect.DeepEqual(emb.Shape(), []int{32000, 8}) {
		t.Fatalf("token_embd: %+v", emb)
	}
	v, err := f.Float32("token_embd.weight")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := f.TensorBytes("token_embd.weight")
	for i, x := range v {
		if want := safetensors.F16ToF32(binary.LittleEndian.Uint16(raw[2*i:])); x != want || math.IsNaN(float64(x)) {
			t.Fatalf("token_embd[%d] = %g, want %g", i, x, want)
		}
	}
	norm, err := f.Float32("output_norm.weight")
	if err != nil || len(norm) != 8 {
		t.Fatalf("output_norm: %v %d", err, len(norm))
	}
	// gguf-parser-go agrees on every tensor's place.
	pf, err := parser.ParseGGUFFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if pf.TensorDataStartOffset != f.DataOffset || len(pf.TensorInfos) != len(f.Tensors) {
		t.Fatalf("parser: data at %d with %d tensors; ours %d, %d", pf.TensorDataStartOffset, len(pf.TensorInfos), f.DataOffset, len(f.Tensors))
	}
	for i, pi := range pf.TensorInfos {
		ti := f.Tensors[i]
		if pi.Name != ti.Name || pi.Offset != ti.Offset || !reflect.DeepEqual(pi.Dimensions, ti.Dims) || int64(pi.Bytes()) != ti.Size {
			t.Errorf("tensor %d: parser %s %v @%d, ours %s %v @%d", i, pi.Name, pi.Dimensions, pi.Offset, ti.Name, ti.Dims, ti.Offset)
		}
	}
}

// header builds the start of a GGUF file by hand, for defect tests.
type header struct{ bytes.Buffer }

func (h *header) u8(v byte) *header    { h.WriteByte(v); return h }
func (h *header) u32(v uint32) *header { h.Write(binary.LittleEndian.AppendUint32(nil, v)); return h }
func (h *header) u64(v uint64) *header { h.Write(binary.LittleEndian.AppendUint64(nil, v)); return h }
func (h *header) str(s string) *header { h.u64(uint64(len(s))); h.WriteString(s); return h }
func start(nt, nkv uint64) *header {
	h := &header{}
	h.u32(gguf.Magic).u32(3).u64(nt).u64(nkv)
	return h
}

// pad appends zeros up to a multiple of 32 and n more bytes.
func (h *header) pad(n int) *header {
	for h.Len()%32 != 0 {
		h.WriteByte(0)
	}
	h.Write(make([]byte, n))
	return h
}

// TestDefects checks that damaged files are errors naming the defect, never
// panics.
func TestDefects(t *testing.T) {
	good := func() []byte {
		var b bytes.Buffer
		if err := gguf.Write(&b, []gguf.KV{{Key: "a", Value: "x"}}, []gguf.Tensor{{Name: "w", Type: gguf.F32, Shape: []int{2, 4}, Data: make([]byte, 32)}}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}()
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "file ends"},
		{"bad magic", append([]byte("GGML"), good[4:]...), "not a GGUF file"},
		{"version 1", start(0, 0).Bytes()[:4], "file ends"},
		{"old version", func() []byte { h := &header{}; h.u32(gguf.Magic).u32(1).u64(0).u64(0); return h.Bytes() }(), "version 1"},
		{"truncated data", good[:len(good)-8], "runs past the end"},
		{"truncated header", good[:30], "more than a file of 30 bytes"},
		{"truncated metadata", good[:len(good)-40], "file ends"},
		{"huge counts", start(1<<40, 1<<40).Bytes(), "more than a file"},
		{"huge key", start(0, 1).u64(1 << 50).pad(64).Bytes(), "key length"},
		{"unknown value type", start(0, 1).str("k").u32(99).Bytes(), "unknown value type 99"},
		{"huge array", start(0, 1).str("k").u32(uint32(gguf.TypeArray)).u32(uint32(gguf.TypeUint32)).u64(1 << 40).Bytes(), "array of 1099511627776"},
		{"deep arrays", func() []byte {
			h := start(0, 1).str("k")
			h.u32(uint32(gguf.TypeArray))
			for range 6 {
				h.u32(uint32(gguf.TypeArray)).u64(1)
			}
			return h.Bytes()
		}(), "nested deeper"},
		{"duplicate key", start(0, 2).str("k").u32(uint32(gguf.TypeBool)).u8(1).str("k").u32(uint32(gguf.TypeBool)).u8(0).Bytes(), "duplicate key"},
		{"bad alignment", start(0, 1).str("general.alignment").u32(uint32(gguf.TypeUint32)).u32(24).Bytes(), "power of two"},
		{"too many dims", start(1, 0).str("w").u32(5).pad(64).Bytes(), "5 dimensions"},
		{"unknown tensor type", start(1, 0).str("w").u32(1).u64(4).u32(77).u64(0).pad(16).Bytes(), "unknown GGML type 77"},
		{"partial block", start(1, 0).str("w").u32(1).u64(20).u32(uint32(gguf.Q8_0)).u64(0).pad(64).Bytes(), "block size 32"},
		{"unaligned offset", start(1, 0).str("w").u32(1).u64(4).u32(0).u64(8).pad(32).Bytes(), "not a multiple of the alignment"},
		{"overlap", start(2, 0).str("w").u32(1).u64(16).u32(0).u64(0).str("v").u32(1).u64(4).u32(0).u64(32).pad(128).Bytes(), "overlaps"},
		{"duplicate tensor", start(2, 0).str("w").u32(1).u64(4).u32(0).u64(0).str("w").u32(1).u64(4).u32(0).u64(32).pad(64).Bytes(), "duplicate tensor"},
		{"dims overflow", start(1, 0).str("w").u32(2).u64(1 << 62).u64(1 << 62).u32(0).u64(0).pad(0).Bytes(), "overflow"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".gguf")
			if err := os.WriteFile(p, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(p)
			if err == nil {
				f.Close()
				t.Fatalf("no error, want %q", c.want)
			}
			var fe *gguf.FormatError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want a FormatError naming the file and %q", err, c.want)
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	f32 := func(name string, shape ...int) gguf.Tensor {
		n := 1
		for _, d := range shape {
			n *= d
		}
		return gguf.Tensor{Name: name, Type: gguf.F32, Shape: shape, Data: make([]byte, 4*n)}
	}
	cases := []struct {
		name    string
		kvs     []gguf.KV
		tensors []gguf.Tensor
		want    string
	}{
		{"duplicate key", []gguf.KV{{Key: "a", Value: 1.0}, {Key: "a", Value: 2.0}}, nil, "duplicate key"},
		{"empty key", []gguf.KV{{Key: "", Value: 1.0}}, nil, "empty"},
		{"bad value", []gguf.KV{{Key: "a", Value: 3}}, nil, "Go type int"},
		{"bad string", []gguf.KV{{Key: "a", Value: "\xff"}}, nil, "UTF-8"},
		{"bad alignment", []gguf.KV{{Key: "general.alignment", Value: uint32(12)}}, nil, "power of two"},
		{"duplicate tensor", nil, []gguf.Tensor{f32("w", 2), f32("w", 2)}, "duplicate tensor"},
		{"long name", nil, []gguf.Tensor{f32(strings.Repeat("x", 64), 2)}, "longer than 63"},
		{"five dims", nil, []gguf.Tensor{f32("w", 1, 1, 1, 1, 1)}, "1 to 4 dimensions"},
		{"zero dim", nil, []gguf.Tensor{f32("w", 0, 2)}, "below 1"},
		{"short data", nil, []gguf.Tensor{{Name: "w", Type: gguf.F32, Shape: []int{3}, Data: make([]byte, 8)}}, "needs 12"},
		{"partial block", nil, []gguf.Tensor{{Name: "w", Type: gguf.Q8_0, Shape: []int{2, 20}, Data: []byte{}}}, "block size 32"},
		{"no data", nil, []gguf.Tensor{{Name: "w", Type: gguf.F32, Shape: []int{2}}}, "neither Data nor Encode"},
		{"bad encode", nil, []gguf.Tensor{{Name: "w", Type: gguf.F32, Shape: []int{2}, Encode: func() ([]byte, error) { return make([]byte, 4), nil }}}, "encoded 4 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := gguf.Write(discard{}, c.kvs, c.tensors)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
	if _, err := gguf.Encode(gguf.Q4_0, make([]float32, 20), 1, 20); err == nil {
		t.Error("Encode Q4_0 of a row of 20: no error")
	}
	if _, err := gguf.Encode(gguf.Q4_K, make([]float32, 256), 1, 256); err == nil {
		t.Error("Encode Q4_K: no error")
	}
	if _, err := gguf.Decode(gguf.F16, make([]byte, 3), 1, 2); err == nil {
		t.Error("Decode of 3 bytes of F16 [1 2]: no error")
	}
	// A failed WriteFile leaves nothing behind.
	dir := t.TempDir()
	if err := gguf.WriteFile(filepath.Join(dir, "x.gguf"), nil, cases[len(cases)-1].tensors); err == nil {
		t.Error("WriteFile with a bad tensor: no error")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("WriteFile left %d files behind", len(entries))
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
