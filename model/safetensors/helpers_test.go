package safetensors

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// repoRoot walks up from the test's working directory to the directory
// holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// sharedDir returns $env, or ../shared/<sub> beside the repository root,
// skipping the test when it is absent (failing under CI=true).
func sharedDir(t testing.TB, env, sub string) string {
	t.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "..", "shared", sub)
	}
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found (set %s): %v", sub, env, err)
		}
		t.Skipf("%s not found at %s (set %s to run this test): %v", sub, dir, env, err)
	}
	return dir
}

func fixturesDir(t testing.TB) string { return sharedDir(t, "FYNETUNE_FIXTURES", "fixtures") }
func goldenDir(t testing.TB) string   { return sharedDir(t, "FYNETUNE_GOLDEN", "golden") }

// rawFile builds safetensors bytes from a literal header and dataLen zero
// bytes of data, with the header length prefix set to the header's length.
func rawFile(header string, dataLen int) []byte {
	b := make([]byte, 8+len(header)+dataLen)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	copy(b[8:], header)
	return b
}

// checkInvariants asserts what every accepted file must satisfy: unique
// names, in-range byte ranges matching shape × dtype, no two non-empty
// tensors sharing a byte, and readable data.
func checkInvariants(t *testing.T, f *File) {
	t.Helper()
	names := f.Names()
	if len(names) != len(f.infos) {
		t.Fatalf("%d names for %d tensors", len(names), len(f.infos))
	}
	seen := make(map[string]bool)
	var ranges []Info
	for _, n := range names {
		if seen[n] {
			t.Fatalf("name %q accepted twice", n)
		}
		seen[n] = true
		in, ok := f.Info(n)
		if !ok {
			t.Fatalf("Info(%q) missing", n)
		}
		if !in.DType.valid() {
			t.Fatalf("%q: invalid dtype %v accepted", n, in.DType)
		}
		if in.Begin < 0 || in.Begin > in.End || in.End > int64(len(f.data)) {
			t.Fatalf("%q: range [%d %d] outside data section of %d bytes", n, in.Begin, in.End, len(f.data))
		}
		elems := int64(1)
		for _, d := range in.Shape {
			if d < 0 {
				t.Fatalf("%q: negative dim accepted in %v", n, in.Shape)
			}
			elems *= int64(d)
		}
		if in.End-in.Begin != elems*int64(in.DType.Size()) {
			t.Fatalf("%q: %d bytes for shape %v %s", n, in.End-in.Begin, in.Shape, in.DType)
		}
		b, err := f.Bytes(n)
		if err != nil || int64(len(b)) != in.End-in.Begin {
			t.Fatalf("%q: Bytes gave %d bytes, %v", n, len(b), err)
		}
		if in.DType.IsFloat() {
			v, err := f.Float32(n)
			if err != nil || int64(len(v)) != elems {
				t.Fatalf("%q: Float32 gave %d values, %v", n, len(v), err)
			}
		}
		if in.End > in.Begin {
			ranges = append(ranges, in)
		}
	}
	sort.Slice(ranges, func(i, j int) bool { return ranges[i].Begin < ranges[j].Begin })
	for i := 1; i < len(ranges); i++ {
		if ranges[i].Begin < ranges[i-1].End {
			t.Fatalf("tensors %q [%d %d] and %q [%d %d] overlap", ranges[i-1].Name, ranges[i-1].Begin, ranges[i-1].End,
				ranges[i].Name, ranges[i].Begin, ranges[i].End)
		}
	}
}
