package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// sharedDir finds a directory of ../shared beside the repository root (the
// folder holding go.mod), or the one named by env.
func sharedDir(t testing.TB, env, name string) string {
	t.Helper()
	if d := os.Getenv(env); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "..", "shared", name)
		}
		if filepath.Dir(d) == d {
			return filepath.Join(wd, "..", "shared", name)
		}
	}
}

// requirePath skips (or under CI=true fails) when a fixture is missing.
func requirePath(t testing.TB, p string) string {
	t.Helper()
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("fixture missing under CI: %v", err)
		}
		t.Skipf("fixture missing (set FYNETUNE_FIXTURES / FYNETUNE_GOLDEN or put ../shared beside the repository): %v", err)
	}
	return p
}

func fixture(t testing.TB, rel string) string {
	return requirePath(t, filepath.Join(sharedDir(t, "FYNETUNE_FIXTURES", "fixtures"), rel))
}

func golden(t testing.TB, rel string) string {
	return requirePath(t, filepath.Join(sharedDir(t, "FYNETUNE_GOLDEN", "golden"), rel))
}

// goldenCase is one case of golden/tokenizer_*.json.
type goldenCase struct {
	Text           string `json:"text"`
	IDs            []int  `json:"ids"`
	IDsWithSpecial []int  `json:"ids_with_special"`
	Decoded        string `json:"decoded"`
}

func loadGolden(t testing.TB, name string) []goldenCase {
	t.Helper()
	data, err := os.ReadFile(golden(t, name))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []goldenCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(g.Cases) == 0 {
		t.Fatalf("%s: no cases", name)
	}
	return g.Cases
}

var (
	loadedMu sync.Mutex
	loaded   = map[string]*Tokenizer{}
)

// loadFixture loads (once per test binary) the tokenizer of a fixture dir.
func loadFixture(t testing.TB, rel string) *Tokenizer {
	t.Helper()
	dir := fixture(t, rel)
	loadedMu.Lock()
	defer loadedMu.Unlock()
	if tok, ok := loaded[dir]; ok {
		return tok
	}
	tok, err := Load(dir)
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	loaded[dir] = tok
	return tok
}

func gpt2(t testing.TB) *Tokenizer        { return loadFixture(t, "tokenizers/gpt2") }
func stories260K(t testing.TB) *Tokenizer { return loadFixture(t, "models/stories260K") }
