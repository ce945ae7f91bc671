package app

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"

	"github.com/fynetune/fynetune/train"
)

// Store keeps string values by key. The window fills it with Fyne's
// preferences; MemStore keeps them in memory.
type Store interface {
	String(key string) string
	SetString(key, value string)
}

// MemStore is a Store in memory, safe for concurrent use.
type MemStore struct {
	mu sync.Mutex
	m  map[string]string
}

// String returns the value of key ("" when unset).
func (s *MemStore) String(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key]
}

// SetString sets key to value.
func (s *MemStore) SetString(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[key] = value
}

// MaxRecent is how many recent models and datasets are remembered.
const MaxRecent = 10

// The keys Settings uses in its Store.
const (
	keyRecentModels = "recent.models"
	keyRecentData   = "recent.data"
	keyConfig       = "run.config" // TOML of the last train.Config
	keyRunsDir      = "runs.dir"
)

// Settings are what the workbench remembers between launches: recent
// models and datasets, the last run configuration (bit-width included),
// the runs folder.
type Settings struct {
	store Store
}

// NewSettings reads and writes settings through s (nil: a new MemStore).
func NewSettings(s Store) *Settings {
	if s == nil {
		s = &MemStore{}
	}
	return &Settings{store: s}
}

// RecentModels lists the recently opened model folders, newest first.
func (s *Settings) RecentModels() []string { return s.list(keyRecentModels) }

// AddRecentModel puts a model folder first in the recent list.
func (s *Settings) AddRecentModel(dir string) { s.push(keyRecentModels, dir) }

// RecentData lists the recently opened dataset files, newest first.
func (s *Settings) RecentData() []string { return s.list(keyRecentData) }

// AddRecentData puts a dataset file first in the recent list.
func (s *Settings) AddRecentData(path string) { s.push(keyRecentData, path) }

func (s *Settings) list(key string) []string {
	var out []string
	for _, l := range strings.Split(s.store.String(key), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (s *Settings) push(key, v string) {
	if v == "" || strings.Contains(v, "\n") {
		return
	}
	out := []string{v}
	for _, l := range s.list(key) {
		if l != v && len(out) < MaxRecent {
			out = append(out, l)
		}
	}
	s.store.SetString(key, strings.Join(out, "\n"))
}

// Config returns the last saved run configuration over the defaults, and
// false when none was saved or it cannot be read.
func (s *Settings) Config() (train.Config, bool) {
	c := train.DefaultConfig()
	raw := s.store.String(keyConfig)
	if raw == "" {
		return c, false
	}
	if _, err := toml.Decode(raw, &c); err != nil {
		return train.DefaultConfig(), false
	}
	return c, true
}

// SetConfig remembers a run configuration.
func (s *Settings) SetConfig(c train.Config) error {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	s.store.SetString(keyConfig, buf.String())
	return nil
}

// RunsDir is the folder runs are written to (DefaultRunsDir when unset).
func (s *Settings) RunsDir() string {
	if d := s.store.String(keyRunsDir); d != "" {
		return d
	}
	return DefaultRunsDir()
}

// SetRunsDir changes the runs folder.
func (s *Settings) SetRunsDir(dir string) { s.store.SetString(keyRunsDir, dir) }
