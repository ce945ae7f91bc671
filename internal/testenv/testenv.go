// Package testenv finds the shared test fixtures and golden files.
//
// Fixtures live outside the repository, in ../shared/fixtures beside the
// checkout (or $FYNETUNE_FIXTURES); goldens in ../shared/golden (or
// $FYNETUNE_GOLDEN). Tests that need them skip with a clear message when they
// are absent, except under CI (CI=true), where absence fails the test.
package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot walks up from the working directory to the folder holding go.mod.
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

func find(t testing.TB, env, rel string, parts ...string) string {
	t.Helper()
	base := os.Getenv(env)
	if base == "" {
		base = filepath.Join(RepoRoot(), "..", "shared", rel)
	}
	p := filepath.Join(append([]string{base}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		msg := "test data not found: " + p + " (set " + env + " or place ../shared/" + rel + " beside the checkout)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// Fixture returns the path of a fixture, e.g. Fixture(t, "models", "stories260K").
func Fixture(t testing.TB, parts ...string) string {
	t.Helper()
	return find(t, "FYNETUNE_FIXTURES", "fixtures", parts...)
}

// Golden returns the path of a golden file, e.g. Golden(t, "quant", "quant.json").
func Golden(t testing.TB, parts ...string) string {
	t.Helper()
	return find(t, "FYNETUNE_GOLDEN", "golden", parts...)
}
