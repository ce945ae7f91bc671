package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/model/tokenizer"
	"github.com/fynetune/fynetune/train/data"
)

// Files of a run directory.
const (
	ConfigFile     = "config.toml"
	MetricsFile    = "metrics.jsonl"
	CheckpointsDir = "checkpoints"
	FullModelDir   = "model" // full fine-tuning writes the trained model here
)

// ErrStopped is returned when a run was stopped (Ctrl-C, the Stop button)
// after saving a checkpoint.
var ErrStopped = errors.New("training stopped; a checkpoint was saved and the run can be resumed")

// Metrics is one line of metrics.jsonl and one message on the metrics
// channel. EvalLoss is set on the steps where the validation set was scored.
type Metrics struct {
	Step         int      `json:"step"`
	TotalSteps   int      `json:"total_steps"`
	Epoch        float64  `json:"epoch"`
	Loss         float64  `json:"loss"`
	LR           float64  `json:"lr"`
	GradNorm     float64  `json:"grad_norm"`
	TokensPerSec float64  `json:"tokens_per_s"`
	EvalLoss     *float64 `json:"eval_loss,omitempty"`
	ElapsedS     float64  `json:"elapsed_s"`
	MemoryBytes  uint64   `json:"memory_bytes"`
}

// Options are the parts of a run that are not its configuration.
type Options struct {
	Backend compute.Backend
	// Resume continues the run in Config.Out from its latest checkpoint.
	Resume bool
	// Metrics receives every step's metrics when not nil. Sends do not
	// block training: a slow reader misses messages (metrics.jsonl has all).
	Metrics chan<- Metrics
	// Gate, when not nil, pauses training between steps.
	Gate *Gate
	// Log receives one-line progress notes (dataset summary, checkpoints).
	Log func(format string, args ...any)
}

// Gate pauses and resumes a running job between steps. Pausing keeps every
// piece of state, so resuming continues exactly where it stopped.
type Gate struct {
	mu     sync.Mutex
	paused bool
	wake   chan struct{}
}

// Pause asks the run to stop computing after the current step.
func (g *Gate) Pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused {
		g.paused = true
		g.wake = make(chan struct{})
	}
}

// Resume lets a paused run continue.
func (g *Gate) Resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused {
		g.paused = false
		close(g.wake)
	}
}

// Paused reports whether the gate is closed.
func (g *Gate) Paused() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused
}

// wait blocks while paused or until ctx ends.
func (g *Gate) wait(ctx context.Context) error {
	if g == nil {
		return ctx.Err()
	}
	g.mu.Lock()
	w, p := g.wake, g.paused
	g.mu.Unlock()
	if !p {
		return ctx.Err()
	}
	select {
	case <-w:
		return ctx.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Result summarises a finished run.
type Result struct {
	Dir       string
	Steps     int
	LastLoss  float64
	EvalLoss  float64 // NaN when there is no validation data
	Adapter   string  // folder of the final PEFT adapter (LoRA)
	ModelDir  string  // folder of the trained model (full fine-tuning)
	DataStats data.Stats
}

// TokAdapter makes a model tokenizer serve package data.
type TokAdapter struct{ *tokenizer.Tokenizer }

// AddsBOS reports whether encoding with special tokens prepends BOS.
func (t TokAdapter) AddsBOS() bool {
	ids := t.EncodeWithSpecial("a")
	return t.BOS() >= 0 && len(ids) > 0 && ids[0] == t.BOS()
}

// Job is a training run in progress: the model, the trainable parameters,
// the optimizer and the data, with everything a checkpoint must restore.
type Job struct {
	Cfg   Config
	M     *model.Model
	Set   *Adapters // LoRA (nil in full fine-tuning)
	Opt   *Optimizer
	Sched Schedule
	Data  *data.Dataset
	Total int // optimizer steps in the run
	Step  int // optimizer steps done

	opts    Options
	params  []Param
	batches *data.Batcher
	stepper *Stepper
	ids     [][]int32 // per micro-batch inputs
	tgts    [][]int32
	metrics *os.File
	start   time.Time
	elapsed float64 // seconds trained before this process (resume)
	lastCk  string
}

// Train runs (or, with opts.Resume, continues) the run described by cfg,
// writing config.toml, metrics.jsonl, checkpoints and the final adapter into
// cfg.Out.
func Train(ctx context.Context, cfg Config, opts Options) (*Result, error) {
	j, err := NewJob(cfg, opts)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	return j.Run(ctx)
}

// NewJob loads the model and the data and prepares the run, restoring the
// latest checkpoint when opts.Resume is set.
func NewJob(cfg Config, opts Options) (*Job, error) {
	if opts.Resume {
		saved, err := LoadConfig(filepath.Join(cfg.Out, ConfigFile))
		if err != nil {
			return nil, fmt.Errorf("resume %s: %w", cfg.Out, err)
		}
		saved.Out = cfg.Out
		cfg = saved
	}
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if opts.Backend == nil {
		return nil, fmt.Errorf("train: no compute backend")
	}
	if opts.Log == nil {
		opts.Log = func(string, ...any) {}
	}
	m, err := model.LoadWith(cfg.Model, opts.Backend, model.LoadOptions{Bits: cfg.Bits})
	if err != nil {
		return nil, err
	}
	j := &Job{Cfg: cfg, M: m, opts: opts}
	if err := j.setup(); err != nil {
		m.Close()
		return nil, err
	}
	return j, nil
}

func (j *Job) setup() error {
	cfg, m := j.Cfg, j.M
	if cfg.SeqLen > m.Config.MaxPos {
		return fmt.Errorf("seq-len %d is longer than the model's context (%d tokens)", cfg.SeqLen, m.Config.MaxPos)
	}
	format, err := data.ParseFormat(cfg.Format)
	if err != nil {
		return err
	}
	dc := data.Config{Path: cfg.Data, ValPath: cfg.Valid, Template: templateName(cfg.Template),
		SeqLen: cfg.SeqLen, Truncate: true, Pack: cfg.Packing, Seed: cfg.Seed}
	dc.Format, dc.SkipBad, dc.TextSplit = format, cfg.SkipBad, data.TextSplit(cfg.TextSplit)
	dc.TextColumn, dc.PromptColumn, dc.CompletionColumn = cfg.CSVText, cfg.CSVPrompt, cfg.CSVAnswer
	if cfg.Valid == "" {
		dc.ValFraction = cfg.ValidSplit
	}
	ds, err := data.Load(dc, TokAdapter{m.Tok})
	if err != nil {
		return err
	}
	if len(ds.Train) == 0 {
		return fmt.Errorf("%s: no training examples", cfg.Data)
	}
	j.Data = ds
	st := ds.Stats
	j.opts.Log("data: %s, %s, %d train / %d validation rows of %d tokens, %d truncated, %d bad records skipped",
		st.Format, st.Template, st.TrainExamples, st.ValExamples, cfg.SeqLen, st.Truncated, len(st.Bad))
	for _, w := range st.Warnings {
		j.opts.Log("data: %s", w)
	}
	j.batches, err = data.NewBatcher(ds.Train, data.BatcherOptions{BatchSize: cfg.Batch, SeqLen: cfg.SeqLen,
		Shuffle: true, Seed: cfg.Seed, PadID: data.PadID(TokAdapter{m.Tok})})
	if err != nil {
		return err
	}
	perEpoch := (j.batches.BatchesPerEpoch() + cfg.GradAccum - 1) / cfg.GradAccum
	j.Total = cfg.Steps
	if j.Total == 0 {
		j.Total = cfg.Epochs * perEpoch
	}
	switch cfg.Mode {
	case "lora":
		if cfg.InitAdapter != "" {
			j.Set, err = LoadAdapter(cfg.InitAdapter, m)
			if err == nil {
				j.Set.Config.Dropout = cfg.Dropout
				for _, l := range j.Set.Mods {
					l.setDropout(float32(cfg.Dropout), cfg.Seed)
				}
			}
		} else {
			j.Set, err = Attach(m, cfg.LoraConfig(), cfg.Seed)
		}
		if err != nil {
			return err
		}
		j.params = j.Set.Params()
	case "full":
		for _, p := range m.EnableFullTraining() {
			j.params = append(j.params, p)
		}
	}
	if j.Opt, err = NewOptimizer(m.Be, cfg.OptimConfig(), j.params); err != nil {
		return err
	}
	j.Sched = Schedule{Kind: cfg.Schedule, Peak: cfg.LR, Warmup: cfg.Warmup, Total: j.Total}
	j.stepper = NewStepperMode(m, cfg.Batch, cfg.SeqLen, cfg.KeepMode())
	n := cfg.Batch * cfg.SeqLen
	for range cfg.GradAccum {
		j.ids = append(j.ids, make([]int32, n))
		j.tgts = append(j.tgts, make([]int32, n))
	}
	if err := os.MkdirAll(filepath.Join(cfg.Out, CheckpointsDir), 0o755); err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	if j.opts.Resume {
		if err := j.restoreLatest(); err != nil {
			return err
		}
	} else if err := SaveConfig(filepath.Join(cfg.Out, ConfigFile), cfg); err != nil {
		return err
	}
	return j.openMetrics()
}

func templateName(t string) string {
	if t == "auto" {
		return ""
	}
	return t
}

// Params lists the trainable parameters.
func (j *Job) Params() []Param { return j.params }

// Close releases the model and the metrics file.
func (j *Job) Close() error {
	if j.metrics != nil {
		j.metrics.Close()
	}
	return j.M.Close()
}

// Run trains until the last step, a stop (ctx cancelled: a checkpoint is
// saved and ErrStopped returned) or a non-finite loss (the run ends with an
// error and the last good checkpoint is kept).
func (j *Job) Run(ctx context.Context) (*Result, error) {
	cfg := j.Cfg
	j.start = time.Now()
	res := &Result{Dir: cfg.Out, EvalLoss: math.NaN(), DataStats: j.Data.Stats}
	if j.Set != nil {
		j.Set.SetTraining(true)
	}
	for j.Step < j.Total {
		if err := j.opts.Gate.wait(ctx); err != nil {
			return res, j.stop()
		}
		t0 := time.Now()
		loss, norm, tokens, err := j.step()
		if err != nil {
			return res, err
		}
		res.LastLoss = loss
		mt := Metrics{Step: j.Step, TotalSteps: j.Total, Loss: loss, LR: j.Sched.LR(j.Step - 1), GradNorm: norm,
			TokensPerSec: float64(tokens) / time.Since(t0).Seconds(), Epoch: j.epoch()}
		if j.Step == j.Total || (cfg.EvalEvery > 0 && j.Step%cfg.EvalEvery == 0) {
			if ev, ok := j.Evaluate(ctx, cfg.EvalBatches); ok {
				mt.EvalLoss = &ev
				res.EvalLoss = ev
			}
		}
		mt.ElapsedS = j.elapsed + time.Since(j.start).Seconds()
		mt.MemoryBytes = MemoryBytes()
		if err := j.record(mt); err != nil {
			return res, err
		}
		if cfg.SaveEvery > 0 && j.Step%cfg.SaveEvery == 0 && j.Step < j.Total {
			if err := j.SaveCheckpoint(); err != nil {
				return res, err
			}
		}
	}
	res.Steps = j.Step
	if err := j.SaveCheckpoint(); err != nil {
		return res, err
	}
	if err := j.saveFinal(res); err != nil {
		return res, err
	}
	return res, nil
}

// step runs one optimizer step over GradAccum micro-batches and returns the
// mean loss, the gradient norm before clipping and the tokens processed.
func (j *Job) step() (loss, norm float64, tokens int, err error) {
	scored := 0
	for k := range j.ids {
		b, err := j.batches.Next(j.ids[k], j.tgts[k])
		if err != nil {
			return 0, 0, 0, err
		}
		tokens += b.Tokens
		scored += b.Scored
	}
	ZeroGrad(j.M.Be, j.params)
	var sum float64
	for k := range j.ids {
		s, _ := j.stepper.ForwardBackward(j.ids[k], j.tgts[k], scored, true)
		sum += s
	}
	loss = sum / float64(max(scored, 1))
	norm = GradNorm(j.M.Be, j.params)
	if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(norm) || math.IsInf(norm, 0) {
		where := "no checkpoint was saved yet"
		if j.lastCk != "" {
			where = "the last good checkpoint is " + j.lastCk
		}
		return loss, norm, tokens, fmt.Errorf("step %d: the loss is %v (gradient norm %v) at learning rate %g; training stopped without applying the step, %s; try a lower learning rate",
			j.Step+1, loss, norm, j.Sched.LR(j.Step), where)
	}
	j.Opt.Update(j.Sched.LR(j.Step))
	if j.Set == nil {
		j.M.WeightsChanged()
	}
	j.Step++
	return loss, norm, tokens, nil
}

func (j *Job) epoch() float64 {
	p := j.batches.Position()
	return float64(p.Epoch) + float64(p.Index)/float64(max(1, j.batches.Len()))
}

// Evaluate returns the mean loss over the validation rows (the first
// maxBatches batches when positive); ok is false without validation data.
func (j *Job) Evaluate(ctx context.Context, maxBatches int) (loss float64, ok bool) {
	if len(j.Data.Val) == 0 {
		return 0, false
	}
	if j.Set != nil {
		j.Set.SetTraining(false)
		defer j.Set.SetTraining(true)
	}
	sum, n, err := ScoreRows(ctx, j.stepper, j.Data.Val, maxBatches, data.PadID(TokAdapter{j.M.Tok}))
	if err != nil || n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// ScoreRows runs rows through the model in batches of the stepper's shape
// (the first maxBatches when positive) and returns the summed loss of the
// scored positions and their count.
func ScoreRows(ctx context.Context, s *Stepper, rows []data.Example, maxBatches int, pad int32) (float64, int, error) {
	b, err := data.NewBatcher(rows, data.BatcherOptions{BatchSize: s.B, SeqLen: s.T, PadID: pad})
	if err != nil {
		return 0, 0, err
	}
	ids, tgts := make([]int32, s.B*s.T), make([]int32, s.B*s.T)
	var sum float64
	var n int
	for i := 0; i < b.BatchesPerEpoch() && (maxBatches <= 0 || i < maxBatches); i++ {
		if err := ctx.Err(); err != nil {
			return sum, n, err
		}
		if _, err := b.Next(ids, tgts); err != nil {
			return sum, n, err
		}
		ls, c := s.ForwardBackward(ids, tgts, 1, false)
		sum += ls
		n += c
	}
	return sum, n, nil
}

func (j *Job) openMetrics() error {
	path := filepath.Join(j.Cfg.Out, MetricsFile)
	// On resume keep only the lines of steps the checkpoint covers, so the
	// file reads as one uninterrupted run.
	if j.opts.Resume {
		if err := truncateMetrics(path, j.Step); err != nil {
			return err
		}
	}
	flag := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if !j.opts.Resume {
		flag |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	j.metrics = f
	return nil
}

func (j *Job) record(mt Metrics) error {
	line, _ := json.Marshal(mt)
	if _, err := j.metrics.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("writing %s: %w", j.metrics.Name(), err)
	}
	if j.opts.Metrics != nil {
		select {
		case j.opts.Metrics <- mt:
		default:
		}
	}
	return nil
}

// stop saves a checkpoint of the current step and reports ErrStopped.
func (j *Job) stop() error {
	if err := j.SaveCheckpoint(); err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	return ErrStopped
}

// saveFinal writes the trained adapter (LoRA) or model (full) into the run
// directory.
func (j *Job) saveFinal(res *Result) error {
	if j.Set != nil {
		if err := SaveAdapterBits(j.Cfg.Out, j.Set, j.M, j.Cfg.AdapterBits); err != nil {
			return err
		}
		res.Adapter = j.Cfg.Out
		return nil
	}
	dir := filepath.Join(j.Cfg.Out, FullModelDir)
	if err := SaveFullModel(dir, j.M, j.params); err != nil {
		return err
	}
	res.ModelDir = dir
	return nil
}

// MemoryBytes is the resident memory of the process (Linux), or the Go
// runtime's view of it elsewhere.
func MemoryBytes() uint64 {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		var size, rss uint64
		if _, err := fmt.Sscan(string(b), &size, &rss); err == nil {
			return rss * uint64(os.Getpagesize())
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Sys
}
