package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/model/safetensors"
	"github.com/fynetune/fynetune/train/data"
)

// A checkpoint is a folder checkpoints/step-NNNNNN holding state.safetensors
// (parameters and optimizer moments) and state.json (step, data position,
// dropout random states). It is written to a temporary folder and renamed
// into place, so a crash never leaves a half-written checkpoint.
const (
	checkpointState   = "state.json"
	checkpointTensors = "state.safetensors"
)

type checkpointMeta struct {
	Step      int               `json:"step"`
	OptStep   int               `json:"optimizer_step"`
	Position  data.Position     `json:"data_position"`
	RNG       map[string][]byte `json:"dropout_rng,omitempty"`
	ElapsedS  float64           `json:"elapsed_s"`
	Mode      string            `json:"mode"`
	NumParams int               `json:"num_params"`
	Written   time.Time         `json:"written"`
}

// CheckpointDir is the folder of the checkpoint at step.
func CheckpointDir(runDir string, step int) string {
	return filepath.Join(runDir, CheckpointsDir, fmt.Sprintf("step-%06d", step))
}

// SaveCheckpoint writes the state of the current step.
func (j *Job) SaveCheckpoint() error {
	final := CheckpointDir(j.Cfg.Out, j.Step)
	tmp, err := os.MkdirTemp(filepath.Dir(final), ".tmp-"+filepath.Base(final)+"-")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer os.RemoveAll(tmp)
	be := j.M.Be
	var ts []safetensors.Tensor
	for k, p := range j.params {
		ts = append(ts, safetensors.F32Tensor("param/"+p.Name, p.Value.Shape, download(be, p.Value)))
		ts = append(ts, safetensors.F32Tensor("m/"+p.Name, p.Value.Shape, download(be, j.Opt.M[k])))
		if j.Opt.V != nil {
			ts = append(ts, safetensors.F32Tensor("v/"+p.Name, p.Value.Shape, download(be, j.Opt.V[k])))
		}
	}
	if err := safetensors.Write(filepath.Join(tmp, checkpointTensors), ts, nil); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	meta := checkpointMeta{Step: j.Step, OptStep: j.Opt.Step, Position: j.batches.Position(), Mode: j.Cfg.Mode,
		NumParams: len(j.params), ElapsedS: j.elapsed + time.Since(j.start).Seconds(), Written: time.Now().UTC()}
	if j.Set != nil {
		meta.RNG = map[string][]byte{}
		for _, l := range j.Set.Mods {
			if l.src != nil {
				b, _ := l.src.MarshalBinary()
				meta.RNG[l.Path] = b
			}
		}
	}
	js, _ := json.MarshalIndent(meta, "", "  ")
	if err := writeFileAtomic(filepath.Join(tmp, checkpointState), js); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.RemoveAll(final); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	j.lastCk = final
	j.opts.Log("checkpoint: %s", final)
	return j.prune()
}

// prune keeps the newest KeepCheckpts checkpoints (at least one).
func (j *Job) prune() error {
	steps, err := checkpointSteps(j.Cfg.Out)
	if err != nil {
		return err
	}
	keep := max(1, j.Cfg.KeepCheckpts)
	for i := 0; i+keep < len(steps); i++ {
		if err := os.RemoveAll(CheckpointDir(j.Cfg.Out, steps[i])); err != nil {
			return err
		}
	}
	return nil
}

// checkpointSteps lists the steps with a complete checkpoint, ascending.
func checkpointSteps(runDir string) ([]int, error) {
	entries, err := os.ReadDir(filepath.Join(runDir, CheckpointsDir))
	if err != nil {
		return nil, err
	}
	var steps []int
	for _, e := range entries {
		var s int
		if _, err := fmt.Sscanf(e.Name(), "step-%d", &s); err != nil || !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(runDir, CheckpointsDir, e.Name(), checkpointState)); err == nil {
			steps = append(steps, s)
		}
	}
	sort.Ints(steps)
	return steps, nil
}

// restoreLatest loads the newest checkpoint of the run into the job.
func (j *Job) restoreLatest() error {
	steps, err := checkpointSteps(j.Cfg.Out)
	if err != nil || len(steps) == 0 {
		return fmt.Errorf("resume %s: no checkpoint found in %s", j.Cfg.Out, filepath.Join(j.Cfg.Out, CheckpointsDir))
	}
	dir := CheckpointDir(j.Cfg.Out, steps[len(steps)-1])
	raw, err := os.ReadFile(filepath.Join(dir, checkpointState))
	if err != nil {
		return err
	}
	var meta checkpointMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return fmt.Errorf("%s: invalid JSON: %v", filepath.Join(dir, checkpointState), err)
	}
	if meta.Mode != j.Cfg.Mode || meta.NumParams != len(j.params) {
		return fmt.Errorf("%s: checkpoint of a %s run with %d parameter tensors does not match this run (%s, %d)", dir, meta.Mode, meta.NumParams, j.Cfg.Mode, len(j.params))
	}
	f, err := safetensors.Open(filepath.Join(dir, checkpointTensors))
	if err != nil {
		return err
	}
	defer f.Close()
	load := func(name string, dst *compute.Tensor) error {
		v, err := f.Float32(name)
		if err != nil {
			return err
		}
		if len(v) != dst.Len() {
			return fmt.Errorf("%s: tensor %q has %d values, want %d", dir, name, len(v), dst.Len())
		}
		j.M.Be.Upload(dst, v)
		return nil
	}
	for k, p := range j.params {
		if err := load("param/"+p.Name, p.Value); err != nil {
			return err
		}
		if err := load("m/"+p.Name, j.Opt.M[k]); err != nil {
			return err
		}
		if j.Opt.V != nil {
			if err := load("v/"+p.Name, j.Opt.V[k]); err != nil {
				return err
			}
		}
	}
	if j.Set != nil {
		for _, l := range j.Set.Mods {
			if b, ok := meta.RNG[l.Path]; ok && l.src != nil {
				if err := l.src.UnmarshalBinary(b); err != nil {
					return fmt.Errorf("%s: dropout state of %s: %v", dir, l.Path, err)
				}
			}
		}
	} else {
		j.M.WeightsChanged()
	}
	if err := j.batches.SetPosition(meta.Position); err != nil {
		return fmt.Errorf("%s: %v", dir, err)
	}
	j.Step, j.Opt.Step, j.elapsed, j.lastCk = meta.Step, meta.OptStep, meta.ElapsedS, dir
	j.opts.Log("resumed from %s", dir)
	return nil
}

// truncateMetrics drops the lines of steps after step.
func truncateMetrics(path string, step int) error {
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m struct {
			Step int `json:"step"`
		}
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Step <= step {
			out.Write(sc.Bytes())
			out.WriteByte('\n')
		}
	}
	return writeFileAtomic(path, out.Bytes())
}

// SaveFullModel writes a fully trained model as a Hugging Face folder:
// config.json and the tokenizer files copied from the base, and the weights
// in model.safetensors (sharded with an index above 2 GB).
func SaveFullModel(dir string, m *model.Model, params []Param) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := CopyModelFiles(m.Dir, dir); err != nil {
		return err
	}
	var ts []safetensors.Tensor
	for _, p := range params {
		ts = append(ts, safetensors.F32Tensor(p.Name, p.Value.Shape, download(m.Be, p.Value)))
	}
	_, err := safetensors.WriteSharded(dir, "model", ts, map[string]string{"format": "pt"}, 2<<30)
	return err
}

// CopyModelFiles copies a model folder's config and tokenizer files (not
// its weights) into dir.
func CopyModelFiles(src, dir string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".json") || name == "merges.txt" || name == "tokenizer.model") ||
			name == safetensors.IndexFileName || name == AdapterConfigFile {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(dir, name), b); err != nil {
			return err
		}
	}
	return nil
}

// download copies a tensor's values to a new host slice.
func download(be compute.Backend, t *compute.Tensor) []float32 {
	v := make([]float32, t.Len())
	be.Download(v, t)
	return v
}

// setDropout (re)configures dropout for a loaded adapter.
func (l *Lora) setDropout(p float32, seed uint64) {
	l.dropout = p
	l.src = rand.NewPCG(seed, hashPath(l.Path))
	l.rng = rand.New(l.src)
}

func hashPath(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
