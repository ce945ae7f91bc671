package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/train"
)

// JobState is where a training job is in its life.
//
//	Idle ──Start──> Loading ──> Running <──Pause/Resume──> Paused
//	                   │           │  └──────────┬─────────────┘
//	                   │           │            Stop
//	                   │           v             v
//	                   │         Done        Stopping ──> Stopped ──Resume──> Loading
//	                   └──────────────> Failed ──Resume (when a checkpoint exists)──> Loading
type JobState int

// The states of a Job.
const (
	JobIdle     JobState = iota // created, not started
	JobLoading                  // loading the model and the data (or a checkpoint)
	JobRunning                  // training
	JobPaused                   // paused between steps; every piece of state kept
	JobStopping                 // stop requested; saving a checkpoint
	JobStopped                  // stopped with a checkpoint; Resume continues it
	JobDone                     // trained every step; the adapter (or model) is saved
	JobFailed                   // ended with an error (Err says what)
)

var jobStateNames = [...]string{"idle", "loading", "running", "paused", "stopping", "stopped", "done", "failed"}

// String names the state ("running", "paused", ...).
func (s JobState) String() string {
	if s >= 0 && int(s) < len(jobStateNames) {
		return jobStateNames[s]
	}
	return fmt.Sprintf("JobState(%d)", int(s))
}

// Active reports whether the job holds a model in memory (loading, running,
// paused or stopping).
func (s JobState) Active() bool {
	return s == JobLoading || s == JobRunning || s == JobPaused || s == JobStopping
}

// Event is one thing that happened to a job: a state change, a step's
// metrics or a log line. Exactly one of Metrics and Log is set, or neither
// for a state change.
type Event struct {
	State   JobState       // the state after the event
	Metrics *train.Metrics // a finished step
	Log     string         // a progress note from the engine
	Err     error          // set with State == JobFailed
}

// Progress summarises a job for a progress bar.
type Progress struct {
	State        JobState
	Step, Total  int
	Loss         float64 // last step's training loss (NaN before the first step)
	EvalLoss     float64 // last validation loss (NaN when none yet)
	TokensPerSec float64 // mean over the last steps
	Elapsed      time.Duration
	ETA          time.Duration // 0 when unknown
	MemoryBytes  uint64
}

// Fraction is Step/Total in [0, 1].
func (p Progress) Fraction() float64 {
	if p.Total <= 0 {
		return 0
	}
	return min(1, float64(p.Step)/float64(p.Total))
}

// Job runs one training run off the caller's goroutine and lets a window
// drive it: Start, Pause, Resume, Stop, and Resume again after a stop. Every
// method is safe to call from any goroutine and returns at once; errors of
// the run itself (bad data, a non-finite loss, even a panic inside the
// engine) end the job in JobFailed with Err set and never reach the caller
// as a panic.
type Job struct {
	// NewBackend makes the compute backend for the run's Backend setting;
	// nil uses app.NewBackend. Set it before Start.
	NewBackend func(name string) (compute.Backend, error)

	mu      sync.Mutex
	cfg     train.Config
	state   JobState
	err     error
	result  *train.Result
	history []train.Metrics
	logs    []string
	total   int
	gate    *train.Gate
	cancel  context.CancelFunc
	done    chan struct{} // closed when the current goroutine ends
	subs    map[int]chan Event
	nextSub int
}

// NewJob prepares a run of cfg; nothing happens until Start.
func NewJob(cfg train.Config) *Job {
	done := make(chan struct{})
	close(done)
	return &Job{cfg: cfg, done: done, subs: map[int]chan Event{}}
}

// OpenJob returns a stopped job for an existing run directory (from the
// runs list): its config.toml and metrics.jsonl are read, and Resume
// continues it from its latest checkpoint.
func OpenJob(runDir string) (*Job, error) {
	cfg, err := train.LoadConfig(filepath.Join(runDir, train.ConfigFile))
	if err != nil {
		return nil, err
	}
	cfg.Out = runDir
	j := NewJob(cfg)
	ms, err := ReadMetrics(filepath.Join(runDir, train.MetricsFile))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	j.history = ms
	if len(ms) > 0 {
		j.total = ms[len(ms)-1].TotalSteps
	}
	j.state = JobStopped
	if st, _ := ReadRun(runDir); st != nil && st.Status == RunDone {
		j.state = JobDone
	}
	return j, nil
}

// Config returns the run's configuration.
func (j *Job) Config() train.Config {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.cfg
}

// State returns the current state.
func (j *Job) State() JobState {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state
}

// Err returns the error that ended the job (nil unless JobFailed).
func (j *Job) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// Result returns the summary of a finished run (nil before JobDone).
func (j *Job) Result() *train.Result {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.result
}

// Metrics returns a copy of every step's metrics received so far.
func (j *Job) Metrics() []train.Metrics {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]train.Metrics(nil), j.history...)
}

// Logs returns a copy of the engine's progress notes.
func (j *Job) Logs() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.logs...)
}

// Done is closed when the job's goroutine ends (at once for a job that is
// not running).
func (j *Job) Done() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.done
}

// Wait blocks until the job's goroutine ends and returns its result and error.
func (j *Job) Wait() (*train.Result, error) {
	<-j.Done()
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.result, j.err
}

// Progress summarises the job now.
func (j *Job) Progress() Progress {
	j.mu.Lock()
	defer j.mu.Unlock()
	p := Progress{State: j.state, Total: j.total, Loss: nan(), EvalLoss: nan()}
	if n := len(j.history); n > 0 {
		last := j.history[n-1]
		p.Step, p.Loss, p.MemoryBytes = last.Step, last.Loss, last.MemoryBytes
		if last.TotalSteps > 0 {
			p.Total = last.TotalSteps
		}
		p.Elapsed = time.Duration(last.ElapsedS * float64(time.Second))
		var tps float64
		k := 0
		for i := n - 1; i >= 0 && k < 10; i-- {
			tps += j.history[i].TokensPerSec
			k++
		}
		p.TokensPerSec = tps / float64(k)
		for i := n - 1; i >= 0; i-- {
			if j.history[i].EvalLoss != nil {
				p.EvalLoss = *j.history[i].EvalLoss
				break
			}
		}
		if p.Step > 0 && p.Total > p.Step {
			p.ETA = time.Duration(last.ElapsedS / float64(p.Step) * float64(p.Total-p.Step) * float64(time.Second))
		}
	}
	return p
}

// Subscribe returns a channel that receives the job's events, and a
// function that ends the subscription. Sends never block the job: a
// subscriber that does not keep up with buf pending events misses some
// (Metrics and State always have everything).
func (j *Job) Subscribe(buf int) (<-chan Event, func()) {
	j.mu.Lock()
	defer j.mu.Unlock()
	ch := make(chan Event, max(buf, 1))
	id := j.nextSub
	j.nextSub++
	j.subs[id] = ch
	return ch, func() {
		j.mu.Lock()
		defer j.mu.Unlock()
		delete(j.subs, id)
	}
}

// emit sends ev to every subscriber without blocking; j.mu is held.
func (j *Job) emit(ev Event) {
	for _, ch := range j.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// setState changes the state and tells the subscribers; j.mu is held.
func (j *Job) setState(s JobState) {
	j.state = s
	j.emit(Event{State: s, Err: j.err})
}

// Start begins training in a new goroutine. It is an error unless the job
// is idle.
func (j *Job) Start() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != JobIdle {
		return fmt.Errorf("cannot start: the job is %s", j.state)
	}
	if err := j.cfg.Check(); err != nil {
		return err
	}
	j.launch(false)
	return nil
}

// Pause stops computing after the step in flight; all state is kept and
// Resume continues exactly where it stopped.
func (j *Job) Pause() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != JobRunning {
		return fmt.Errorf("cannot pause: the job is %s", j.state)
	}
	j.gate.Pause()
	j.setState(JobPaused)
	return nil
}

// Resume continues a paused job, or restarts a stopped (or failed) run from
// its latest checkpoint in a new goroutine.
func (j *Job) Resume() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch j.state {
	case JobPaused:
		j.gate.Resume()
		j.setState(JobRunning)
		return nil
	case JobStopped, JobFailed:
		if latestCheckpoint(j.cfg.Out) < 0 {
			return fmt.Errorf("cannot resume: %s has no checkpoint; start a new run", filepath.Join(j.cfg.Out, train.CheckpointsDir))
		}
		j.err = nil
		j.launch(true)
		return nil
	}
	return fmt.Errorf("cannot resume: the job is %s", j.state)
}

// CanResume reports whether Resume would do something now.
func (j *Job) CanResume() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch j.state {
	case JobPaused:
		return true
	case JobStopped, JobFailed:
		return latestCheckpoint(j.cfg.Out) >= 0
	}
	return false
}

// Stop asks the run to save a checkpoint and end (JobStopping, then
// JobStopped). A paused job stops too. Wait or Done tell when it is over.
func (j *Job) Stop() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch j.state {
	case JobLoading, JobRunning, JobPaused:
		j.cancel()
		j.setState(JobStopping)
		return nil
	}
	return fmt.Errorf("cannot stop: the job is %s", j.state)
}

// launch starts the goroutine; j.mu is held.
func (j *Job) launch(resume bool) {
	ctx, cancel := context.WithCancel(context.Background())
	j.cancel = cancel
	j.gate = &train.Gate{}
	j.done = make(chan struct{})
	j.result = nil
	j.setState(JobLoading)
	go j.run(ctx, resume, j.gate, j.done)
}

// run is the job's goroutine: load, train, record the outcome.
func (j *Job) run(ctx context.Context, resume bool, gate *train.Gate, done chan struct{}) {
	var res *train.Result
	var err error
	metrics := make(chan train.Metrics, 1024)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for m := range metrics {
			j.mu.Lock()
			j.history = append(j.history, m)
			j.total = m.TotalSteps
			mm := m
			j.emit(Event{State: j.state, Metrics: &mm})
			j.mu.Unlock()
		}
	}()
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("internal error in the training engine: %v; the window stays usable (details in the log)", p)
				j.log("panic: %v\n%s", p, debug.Stack())
			}
		}()
		res, err = j.train(ctx, resume, gate, metrics)
	}()
	close(metrics)
	<-drained

	j.mu.Lock()
	defer func() {
		close(done)
		j.mu.Unlock()
	}()
	j.result = res
	switch {
	case err == nil:
		j.err = nil
		j.setState(JobDone)
	case errors.Is(err, train.ErrStopped) || errors.Is(err, context.Canceled):
		j.err = nil
		j.setState(JobStopped)
	default:
		j.err = err
		j.setState(JobFailed)
	}
}

// train loads the run (or its checkpoint) and trains.
func (j *Job) train(ctx context.Context, resume bool, gate *train.Gate, metrics chan<- train.Metrics) (*train.Result, error) {
	j.mu.Lock()
	cfg := j.cfg
	mk := j.NewBackend
	j.mu.Unlock()
	if mk == nil {
		mk = NewBackend
	}
	be, err := mk(cfg.Backend)
	if err != nil {
		return nil, err
	}
	tj, err := train.NewJob(cfg, train.Options{Backend: be, Resume: resume, Metrics: metrics, Gate: gate, Log: j.log})
	if err != nil {
		return nil, err
	}
	defer tj.Close()
	j.mu.Lock()
	// On resume the history continues from the checkpoint's step, as
	// metrics.jsonl does.
	k := 0
	for _, m := range j.history {
		if m.Step <= tj.Step {
			j.history[k] = m
			k++
		}
	}
	j.history = j.history[:k]
	j.total = tj.Total
	if ctx.Err() == nil && j.state == JobLoading {
		j.setState(JobRunning)
	}
	j.mu.Unlock()
	// A stop that came while loading makes Run save the loaded state as a
	// checkpoint and return ErrStopped, like any other stop.
	return tj.Run(ctx)
}

// log records an engine note and forwards it to the subscribers.
func (j *Job) log(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.logs = append(j.logs, s)
	j.emit(Event{State: j.state, Log: s})
}
