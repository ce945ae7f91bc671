package app

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/fynetune/fynetune/train"
)

// RunStatus says how a run directory was left.
type RunStatus string

// The statuses of a run directory.
const (
	RunDone       RunStatus = "done"       // every step trained; the adapter (or model) is saved
	RunStopped    RunStatus = "stopped"    // a checkpoint can be resumed
	RunIncomplete RunStatus = "incomplete" // neither: no checkpoint and no final adapter
)

// RunInfo describes one run directory for the runs list.
type RunInfo struct {
	Dir        string
	Name       string    // the folder name
	Date       time.Time // when the run was created (config.toml's time)
	Updated    time.Time // last metrics line written
	Model      string    // model folder
	Data       string    // training data file
	Mode       string    // lora or full
	Step       int       // last step recorded
	TotalSteps int
	FinalLoss  float64 // last step's training loss (NaN when none)
	EvalLoss   float64 // last validation loss (NaN when none)
	Checkpoint int     // latest checkpoint step (-1 when none)
	Status     RunStatus
	Adapter    string // the final adapter folder (the run dir) when done (LoRA)
}

// DefaultRunsDir is where the workbench keeps its runs: $FYNETUNE_RUNS, or
// fynetune/runs in the user's data folder ($XDG_DATA_HOME or
// ~/.local/share on Linux, the user config folder elsewhere).
func DefaultRunsDir() string {
	if d := os.Getenv("FYNETUNE_RUNS"); d != "" {
		return d
	}
	return filepath.Join(userDataDir(), "runs")
}

// userDataDir is the folder for Fynetune's own files.
func userDataDir() string {
	if runtime.GOOS == "linux" {
		if d := os.Getenv("XDG_DATA_HOME"); d != "" {
			return filepath.Join(d, "fynetune")
		}
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, ".local", "share", "fynetune")
		}
	}
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "fynetune")
	}
	return filepath.Join(os.TempDir(), "fynetune")
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// NewRunDir returns a fresh run directory name under root for a model and a
// dataset: "20060102-150405-<model>-<data>", unique within root. Nothing is
// created.
func NewRunDir(root, modelDir, dataPath string, now time.Time) string {
	base := now.Format("20060102-150405")
	for _, p := range []string{modelDir, dataPath} {
		if p == "" {
			continue
		}
		n := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		if n = strings.Trim(unsafeName.ReplaceAllString(n, "_"), "_"); n != "" {
			if len(n) > 24 {
				n = n[:24]
			}
			base += "-" + n
		}
	}
	dir := filepath.Join(root, base)
	for i := 2; ; i++ {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return dir
		}
		dir = filepath.Join(root, fmt.Sprintf("%s-%d", base, i))
	}
}

// ListRuns reads every run directory directly under root (folders holding
// config.toml), newest first. A missing root is an empty list; a run that
// cannot be read is skipped.
func ListRuns(root string) ([]RunInfo, error) {
	entries, err := os.ReadDir(root)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("runs folder %s: %w", root, err)
	}
	var runs []RunInfo
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		r, err := ReadRun(filepath.Join(root, e.Name()))
		if err != nil || r == nil {
			continue
		}
		runs = append(runs, *r)
	}
	sort.SliceStable(runs, func(a, b int) bool { return runs[a].Date.After(runs[b].Date) })
	return runs, nil
}

// ReadRun describes one run directory; it returns nil, nil for a folder
// that is not a run (no config.toml).
func ReadRun(dir string) (*RunInfo, error) {
	cpath := filepath.Join(dir, train.ConfigFile)
	st, err := os.Stat(cpath)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cfg, err := train.LoadConfig(cpath)
	if err != nil {
		return nil, err
	}
	r := &RunInfo{Dir: dir, Name: filepath.Base(dir), Date: st.ModTime(), Model: cfg.Model, Data: cfg.Data,
		Mode: cfg.Mode, FinalLoss: nan(), EvalLoss: nan(), Checkpoint: -1}
	mpath := filepath.Join(dir, train.MetricsFile)
	ms, err := ReadMetrics(mpath)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if n := len(ms); n > 0 {
		last := ms[n-1]
		r.Step, r.TotalSteps, r.FinalLoss = last.Step, last.TotalSteps, last.Loss
		for i := n - 1; i >= 0; i-- {
			if ms[i].EvalLoss != nil {
				r.EvalLoss = *ms[i].EvalLoss
				break
			}
		}
		if mst, err := os.Stat(mpath); err == nil {
			r.Updated = mst.ModTime()
		}
	}
	r.Checkpoint = latestCheckpoint(dir)
	finished := r.TotalSteps > 0 && r.Step >= r.TotalSteps
	switch {
	case finished && fileExists(filepath.Join(dir, train.AdapterWeightsFile)):
		r.Status, r.Adapter = RunDone, dir
	case finished && fileExists(filepath.Join(dir, train.FullModelDir, "config.json")):
		r.Status = RunDone
	case r.Checkpoint >= 0:
		r.Status = RunStopped
	default:
		r.Status = RunIncomplete
	}
	return r, nil
}

// RunMetrics reads the metrics.jsonl of a run directory.
func RunMetrics(runDir string) ([]train.Metrics, error) {
	return ReadMetrics(filepath.Join(runDir, train.MetricsFile))
}

// ReadMetrics reads a metrics.jsonl file; a line that is not valid JSON is
// an error naming its line number.
func ReadMetrics(path string) ([]train.Metrics, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []train.Metrics
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var m train.Metrics
		if err := json.Unmarshal(b, &m); err != nil {
			return out, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// latestCheckpoint is the step of the newest complete checkpoint, or -1.
func latestCheckpoint(runDir string) int {
	entries, err := os.ReadDir(filepath.Join(runDir, train.CheckpointsDir))
	if err != nil {
		return -1
	}
	best := -1
	for _, e := range entries {
		var s int
		if _, err := fmt.Sscanf(e.Name(), "step-%d", &s); err != nil || !e.IsDir() {
			continue
		}
		if fileExists(filepath.Join(runDir, train.CheckpointsDir, e.Name(), "state.json")) && s > best {
			best = s
		}
	}
	return best
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func nan() float64 { return math.NaN() }
