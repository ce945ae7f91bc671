package app

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fynetune/fynetune/assets"
	"github.com/fynetune/fynetune/train"
)

// Demo is the offline demo, written out of the binary to a folder model.Load
// can read: a small Llama model Fynetune pretrained itself (tools/mkdemo), a
// fine-tuning dataset that teaches it to answer like a pirate, and the
// settings of "Train the demo".
type Demo struct {
	Dir     string   // the folder the demo was written to
	Model   string   // model folder
	Data    string   // the fine-tuning dataset (prompt/completion JSONL)
	Text    string   // a plain-text sample of the pretraining corpus
	Prompts []string // the chat pane's sample prompts
	// Config is "Train the demo": paths made absolute, Out empty (the
	// caller picks a run directory).
	Config train.Config
}

// DemoRoot is the folder inside assets.Demo that holds the demo.
const DemoRoot = "demo"

// OpenDemo writes the embedded demo to the user's cache folder (once per
// demo version) and returns it.
func OpenDemo() (*Demo, error) {
	base, err := os.UserCacheDir()
	if err != nil || base == "" {
		base = os.TempDir()
	}
	return ExtractDemo(assets.Demo, filepath.Join(base, "fynetune"))
}

// ExtractDemo writes the demo in fsys (under DemoRoot) to
// cacheDir/demo-<hash of its content>, unless a complete copy is already
// there, and returns it. The copy is written to a temporary folder and
// renamed into place, so a crash never leaves half a demo.
func ExtractDemo(fsys fs.FS, cacheDir string) (*Demo, error) {
	files, sum, err := demoFiles(fsys)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cacheDir, "demo-"+sum[:12])
	if !demoComplete(dir, files, fsys) {
		if err := os.MkdirAll(cacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		tmp, err := os.MkdirTemp(cacheDir, ".demo-")
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		defer os.RemoveAll(tmp)
		for _, f := range files {
			if err := copyFromFS(fsys, f, filepath.Join(tmp, filepath.FromSlash(strings.TrimPrefix(f, DemoRoot+"/")))); err != nil {
				return nil, fmt.Errorf("demo: %w", err)
			}
		}
		os.RemoveAll(dir)
		if err := os.Rename(tmp, dir); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
	}
	return loadDemo(dir)
}

// demoFiles lists the demo's files and hashes their names and contents.
func demoFiles(fsys fs.FS) ([]string, string, error) {
	var files []string
	err := fs.WalkDir(fsys, DemoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("demo: the binary carries no demo (%v); rebuild with assets/demo (go run ./tools/mkdemo)", err)
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	return files, hex.EncodeToString(h.Sum(nil)), nil
}

// demoComplete reports whether dir holds every file at its size.
func demoComplete(dir string, files []string, fsys fs.FS) bool {
	for _, f := range files {
		want, err := fs.Stat(fsys, f)
		if err != nil {
			return false
		}
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(f, DemoRoot+"/"))))
		if err != nil || st.Size() != want.Size() {
			return false
		}
	}
	return true
}

func copyFromFS(fsys fs.FS, src, dst string) error {
	in, err := fsys.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// loadDemo reads an extracted demo folder.
func loadDemo(dir string) (*Demo, error) {
	cfg, err := train.LoadConfig(filepath.Join(dir, "demo.toml"))
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, filepath.FromSlash(path.Clean(filepath.ToSlash(p))))
	}
	cfg.Model, cfg.Data, cfg.Valid, cfg.Out = abs(cfg.Model), abs(cfg.Data), abs(cfg.Valid), ""
	d := &Demo{Dir: dir, Model: cfg.Model, Data: cfg.Data, Text: filepath.Join(dir, "data", "stories.txt"), Config: cfg}
	if b, err := os.ReadFile(filepath.Join(dir, "prompts.txt")); err == nil {
		for _, p := range strings.Split(strings.TrimSpace(string(b)), "\n\n") {
			if p = strings.TrimSpace(p); p != "" {
				d.Prompts = append(d.Prompts, p)
			}
		}
	}
	return d, nil
}
