package safetensors

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entry returns a tensor entry of the header with the given fields.
func tensorEntry(name, dtype, shape, offsets string) string {
	return `"` + name + `":{"dtype":"` + dtype + `","shape":` + shape + `,"data_offsets":` + offsets + `}`
}

type defect struct {
	name string
	data []byte
	want string // a phrase the error must contain
}

// defects lists one crafted file per defect the reader must reject.
func defects() []defect {
	lenOnly := func(n uint64, extra int) []byte {
		b := make([]byte, 8+extra)
		binary.LittleEndian.PutUint64(b, n)
		return b
	}
	f32 := func(name, shape, offsets string) string { return tensorEntry(name, "F32", shape, offsets) }
	return []defect{
		{"empty file", nil, "file is 0 bytes, shorter than the 8-byte header length (truncated)"},
		{"truncated length prefix", []byte{8, 0, 0}, "file is 3 bytes, shorter than the 8-byte header length (truncated)"},
		{"header length beyond the file", lenOnly(100, 20), "header length 100 is beyond the end of the file (20 bytes follow"},
		{"header length over 100 MB", lenOnly(200<<20, 16), "header length 209715200 exceeds the 100 MB limit"},
		{"header length huge", lenOnly(1<<63, 16), "exceeds the 100 MB limit"},
		{"empty header", rawFile("", 0), "header is empty"},
		{"header not valid JSON", rawFile(`{"a":{"dtype":"F32",`, 0), "header is not valid JSON: unexpected EOF"},
		{"header bad token", rawFile(`{"a" 1}`, 0), "header is not valid JSON"},
		{"header not valid UTF-8", rawFile("{\"\xff\":1}", 0), "header is not valid UTF-8"},
		{"header not an object", rawFile(`[1,2]`, 0), `header is not a JSON object (it starts with "[")`},
		{"header a string", rawFile(`"x"`, 0), "header is not a JSON object (it starts with a string)"},
		{"trailing data after header", rawFile(`{} {}`, 0), "header has trailing data after the JSON object"},
		{"entry not an object", rawFile(`{"a":3}`, 0), `tensor "a": entry is not a JSON object (got a number)`},
		{"entry an array", rawFile(`{"a":[1]}`, 0), `tensor "a": entry is not a JSON object (got an array)`},
		{"missing dtype", rawFile(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, 4), `tensor "a": missing field "dtype"`},
		{"missing shape", rawFile(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, 4), `tensor "a": missing field "shape"`},
		{"missing data_offsets", rawFile(`{"a":{"dtype":"F32","shape":[1]}}`, 4), `tensor "a": missing field "data_offsets"`},
		{"dtype not a string", rawFile(`{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, 4), `field "dtype" is a number, not a string`},
		{"shape not an array", rawFile(`{"a":{"dtype":"F32","shape":"1","data_offsets":[0,4]}}`, 4), `field "shape" is a string, not an array of integers`},
		{"shape element not a number", rawFile(`{`+f32("a", `[[1]]`, `[0,4]`)+`}`, 4), "shape dimension 0 is an array, not an integer"},
		{"shape element a string", rawFile(`{`+f32("a", `["1"]`, `[0,4]`)+`}`, 4), "shape dimension 0 is a string, not an integer"},
		{"data_offsets not an array", rawFile(`{`+f32("a", `[1]`, `{}`)+`}`, 4), `field "data_offsets" is an object, not an array of integers`},
		{"data_offsets wrong length", rawFile(`{`+f32("a", `[1]`, `[0]`)+`}`, 4), `field "data_offsets" has 1 elements, want 2`},
		{"data_offsets non-integer", rawFile(`{`+f32("a", `[1]`, `[0,4.0]`)+`}`, 4), "data_offsets[1] (4.0) is not an integer"},
		{"data_offsets negative", rawFile(`{`+f32("a", `[1]`, `[-4,0]`)+`}`, 4), "data_offsets[0] is negative (-4)"},
		{"duplicate field", rawFile(`{"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}`, 4), `entry has a duplicate field "dtype"`},
		{"unknown dtype", rawFile(`{`+tensorEntry("a", "Q4", `[1]`, `[0,4]`)+`}`, 4), `tensor "a": unsupported dtype "Q4" (supported: F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL)`},
		{"negative shape dim", rawFile(`{`+f32("a", `[2,-3]`, `[0,4]`)+`}`, 4), `tensor "a": shape dimension 1 is negative (-3)`},
		{"non-integer shape dim", rawFile(`{`+f32("a", `[2.5]`, `[0,4]`)+`}`, 4), `tensor "a": shape dimension 0 (2.5) is not an integer`},
		{"exponent shape dim", rawFile(`{`+f32("a", `[1e0]`, `[0,4]`)+`}`, 4), "shape dimension 0 (1e0) is not an integer"},
		{"shape dim too large", rawFile(`{`+f32("a", `[99999999999999999999]`, `[0,4]`)+`}`, 4), "shape dimension 0 (99999999999999999999) is too large"},
		{"shape byte size overflows", rawFile(`{`+f32("a", `[2147483647,2147483647,2147483647]`, `[0,4]`)+`}`, 4), "byte size overflows"},
		{"duplicate tensor names", rawFile(`{`+f32("a", `[1]`, `[0,4]`)+`,`+f32("a", `[1]`, `[4,8]`)+`}`, 8), `header has a duplicate tensor name "a"`},
		{"data_offsets out of range", rawFile(`{`+f32("a", `[2]`, `[0,8]`)+`}`, 4), `tensor "a": data_offsets [0 8] out of range of the 4-byte data section`},
		{"data_offsets begin > end", rawFile(`{`+f32("a", `[1]`, `[8,4]`)+`}`, 8), `tensor "a": data_offsets [8 4]: begin > end`},
		{"overlapping tensors", rawFile(`{`+f32("a", `[2]`, `[0,8]`)+`,`+f32("b", `[2]`, `[4,12]`)+`}`, 12), `tensor "b": data_offsets [4 12] overlap tensor "a" [0 8]`},
		{"overlapping nested tensors", rawFile(`{`+f32("big", `[4]`, `[0,16]`)+`,`+f32("in", `[1]`, `[8,12]`)+`}`, 16), `tensor "in": data_offsets [8 12] overlap tensor "big" [0 16]`},
		{"byte length not shape x dtype", rawFile(`{`+f32("h.0.attn.c_attn.weight", `[5,6]`, `[0,100]`)+`}`, 100),
			`tensor "h.0.attn.c_attn.weight": data_offsets [0 100] hold 100 bytes, shape [5 6] F32 needs 120`},
		{"metadata non-string value", rawFile(`{"__metadata__":{"format":"pt","n":3}}`, 0), `__metadata__ key "n" has a non-string value (a number)`},
		{"metadata not an object", rawFile(`{"__metadata__":"pt"}`, 0), "__metadata__ is not a JSON object (got a string)"},
		{"metadata duplicate key", rawFile(`{"__metadata__":{"a":"1","a":"2"}}`, 0), `__metadata__ has a duplicate key "a"`},
	}
}

// TestOpenDefects opens one crafted file per defect and checks that the
// error is a *FormatError naming the file and the defect.
func TestOpenDefects(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range defects() {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".safetensors")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(path)
			if err == nil {
				f.Close()
				t.Fatalf("Open accepted the file")
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Errorf("error %q is a %T, want *FormatError", err, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, path+": ") {
				t.Errorf("error %q does not start with the file path", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q\ndoes not say %q", msg, tc.want)
			}
		})
	}
}

// TestAcceptedEdgeCases checks files that are unusual but valid.
func TestAcceptedEdgeCases(t *testing.T) {
	cases := []struct {
		name  string
		data  []byte
		names []string
	}{
		{"empty object", rawFile(`{}`, 0), nil},
		{"space padding", rawFile(`{}      `, 0), nil},
		{"metadata only", rawFile(`{"__metadata__":{"format":"pt"}}`, 0), nil},
		{"scalar", rawFile(`{`+tensorEntry("s", "F64", `[]`, `[0,8]`)+`}`, 8), []string{"s"}},
		{"empty tensors share an offset", rawFile(`{`+tensorEntry("e", "F32", `[0,3]`, `[4,4]`)+`,`+
			tensorEntry("x", "F32", `[2]`, `[0,8]`)+`,`+tensorEntry("z", "I8", `[0]`, `[4,4]`)+`}`, 8), []string{"e", "x", "z"}},
		{"unused bytes between tensors", rawFile(`{`+tensorEntry("b", "U8", `[2]`, `[6,8]`)+`,`+
			tensorEntry("a", "U8", `[2]`, `[0,2]`)+`}`, 8), []string{"b", "a"}},
		{"unknown extra field", rawFile(`{"a":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1],"note":"x"}}`, 1), []string{"a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parse("ok.safetensors", tc.data)
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, f)
			got := f.Names()
			if strings.Join(got, ",") != strings.Join(tc.names, ",") {
				t.Errorf("names %q, want %q (file order)", got, tc.names)
			}
		})
	}
}

// FuzzParseHeader feeds arbitrary bytes to the parser: it must never
// panic, every error must name the file, and every accepted file must
// satisfy checkInvariants.
func FuzzParseHeader(f *testing.F) {
	for _, d := range defects() {
		f.Add(d.data)
	}
	dir := f.TempDir()
	valid := [][]Tensor{
		nil,
		{F32Tensor("a", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6})},
		{
			F16Tensor("half", []int{3}, []float32{1, -2, 0.5}),
			BF16Tensor("bf", []int{1, 1}, []float32{3}),
			I32Tensor("ids", []int{2}, []int32{7, -7}),
			{Name: "flag", DType: BOOL, Shape: []int{2}, Data: []byte{0, 1}},
			{Name: "empty", DType: I64, Shape: []int{0}, Data: nil},
		},
	}
	for i, ts := range valid {
		path := filepath.Join(dir, "seed"+string(rune('0'+i))+".safetensors")
		if err := Write(path, ts, map[string]string{"format": "pt"}); err != nil {
			f.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.safetensors"
		file, err := parse(name, data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), name+": ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		checkInvariants(t, file)
	})
}
