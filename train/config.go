package train

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/fynetune/fynetune/model"
)

// Config is everything that defines a training run. It is saved as
// config.toml in the run directory, read by `fynetune train --config`, and
// saved and loaded by the workbench's settings.
type Config struct {
	Model       string `toml:"model"`        // model folder
	Data        string `toml:"data"`         // training data file
	Valid       string `toml:"valid"`        // validation file; empty: split off ValidSplit
	Out         string `toml:"out"`          // run directory
	Mode        string `toml:"mode"`         // "lora" or "full"
	InitAdapter string `toml:"init_adapter"` // PEFT adapter folder to start from
	Backend     string `toml:"backend"`      // auto, cpu, gpu
	Bits        int    `toml:"bits"`         // frozen weights: 16, 8 (int8) or 4 (NF4)
	AdapterBits int    `toml:"adapter_bits"` // store the run's adapter at 8 or 4 bits (0: f32)
	// Recompute is gradient checkpointing: each block keeps only its input
	// and is rerun before its backward pass, for about a third more time
	// per step and a fraction of the activation memory.
	Recompute bool `toml:"recompute"`

	// LoRA
	Rank    int      `toml:"rank"`
	Alpha   float64  `toml:"alpha"`
	Dropout float64  `toml:"dropout"`
	Targets []string `toml:"targets"`
	RSLora  bool     `toml:"rslora"`
	Init    string   `toml:"init"` // peft or gaussian

	// optimisation
	Optimizer   string  `toml:"optimizer"` // adamw or sgd
	LR          float64 `toml:"lr"`
	WeightDecay float64 `toml:"weight_decay"`
	Beta1       float64 `toml:"beta1"`
	Beta2       float64 `toml:"beta2"`
	Eps         float64 `toml:"eps"`
	Momentum    float64 `toml:"momentum"`
	MaxGradNorm float64 `toml:"max_grad_norm"`
	Schedule    string  `toml:"schedule"` // constant, linear, cosine
	Warmup      int     `toml:"warmup"`

	// how long and how much
	Epochs    int    `toml:"epochs"`
	Steps     int    `toml:"steps"` // when > 0, overrides Epochs
	Batch     int    `toml:"batch"`
	GradAccum int    `toml:"grad_accum"`
	SeqLen    int    `toml:"seq_len"`
	Seed      uint64 `toml:"seed"`

	// data
	Format     string  `toml:"format"`      // auto or a data.Format
	Template   string  `toml:"template"`    // auto (the model's), chatml, llama-2, llama-3, alpaca, plain
	Packing    bool    `toml:"packing"`     // pack short examples into full rows
	ValidSplit float64 `toml:"valid_split"` // fraction held out when Valid is empty
	SkipBad    bool    `toml:"skip_bad"`    // skip bad records (counted) instead of failing
	TextSplit  string  `toml:"text_split"`  // plain text: auto, endoftext, blank, line or none
	CSVText    string  `toml:"csv_text"`    // CSV column holding whole texts
	CSVPrompt  string  `toml:"csv_prompt"`  // CSV prompt column (with csv_completion)
	CSVAnswer  string  `toml:"csv_completion"`

	// evaluation and checkpoints
	EvalEvery    int `toml:"eval_every"`   // steps; 0: only at the end
	EvalBatches  int `toml:"eval_batches"` // 0: the whole validation set
	SaveEvery    int `toml:"save_every"`   // steps; 0: only at the end (and on stop)
	KeepCheckpts int `toml:"keep_checkpoints"`
}

// DefaultConfig is what a new run starts from.
func DefaultConfig() Config {
	return Config{
		Mode: "lora", Backend: "auto", Bits: 16,
		Rank: 8, Alpha: 16, Dropout: 0.05, Targets: []string{"q_proj", "v_proj"}, Init: "peft",
		Optimizer: "adamw", LR: 2e-4, WeightDecay: 0.0, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1.0,
		Schedule: "cosine", Warmup: 10,
		Epochs: 1, Batch: 4, GradAccum: 1, SeqLen: 512,
		Format: "auto", Template: "auto", ValidSplit: 0.05,
		EvalEvery: 50, SaveEvery: 100, KeepCheckpts: 2,
	}
}

// Check reports the first setting that cannot work.
func (c *Config) Check() error {
	switch {
	case c.Model == "":
		return fmt.Errorf("no model folder given")
	case c.Data == "":
		return fmt.Errorf("no training data given")
	case c.Out == "":
		return fmt.Errorf("no run directory given")
	case c.Mode != "lora" && c.Mode != "full":
		return fmt.Errorf("mode %q: want lora or full", c.Mode)
	case c.Mode == "lora" && c.Rank < 1:
		return fmt.Errorf("rank must be at least 1, got %d", c.Rank)
	case c.Mode == "lora" && !(c.Alpha > 0):
		return fmt.Errorf("alpha must be positive, got %g", c.Alpha)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("dropout must be in [0, 1), got %g", c.Dropout)
	case !(c.LR > 0):
		return fmt.Errorf("learning rate must be positive, got %g", c.LR)
	case c.Batch < 1:
		return fmt.Errorf("batch must be at least 1, got %d", c.Batch)
	case c.GradAccum < 1:
		return fmt.Errorf("grad-accum must be at least 1, got %d", c.GradAccum)
	case c.SeqLen < 2:
		return fmt.Errorf("seq-len must be at least 2, got %d", c.SeqLen)
	case c.Steps < 0 || c.Epochs < 0 || (c.Steps == 0 && c.Epochs == 0):
		return fmt.Errorf("give a positive number of steps or epochs")
	case c.Warmup < 0:
		return fmt.Errorf("warmup must be 0 or more, got %d", c.Warmup)
	case c.ValidSplit < 0 || c.ValidSplit >= 1:
		return fmt.Errorf("valid-split must be in [0, 1), got %g", c.ValidSplit)
	case c.Optimizer != "adamw" && c.Optimizer != "sgd":
		return fmt.Errorf("optimizer %q: want adamw or sgd", c.Optimizer)
	case c.Bits != 16 && c.Bits != 8 && c.Bits != 4:
		return fmt.Errorf("bits %d: want 16, 8 or 4", c.Bits)
	case c.Mode == "full" && c.Bits != 16:
		return fmt.Errorf("full fine-tuning trains every weight and needs --bits 16 (got %d)", c.Bits)
	case c.AdapterBits != 0 && c.AdapterBits != 8 && c.AdapterBits != 4:
		return fmt.Errorf("adapter-bits %d: want 8 or 4 (or 0 for f32)", c.AdapterBits)
	}
	return CheckSchedule(c.Schedule)
}

// LoraConfig extracts the adapter settings.
func (c *Config) LoraConfig() LoraConfig {
	return LoraConfig{Targets: c.Targets, Rank: c.Rank, Alpha: c.Alpha, RSLora: c.RSLora, Dropout: c.Dropout, Init: c.Init}
}

// OptimConfig extracts the optimizer settings.
func (c *Config) OptimConfig() OptimConfig {
	return OptimConfig{Name: c.Optimizer, LR: c.LR, Beta1: c.Beta1, Beta2: c.Beta2, Eps: c.Eps,
		WeightDecay: c.WeightDecay, Momentum: c.Momentum, MaxGradNorm: c.MaxGradNorm}
}

// LoadConfig reads a TOML run configuration over the defaults; unknown keys
// are an error naming them, so a typo is never silently ignored.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return c, fmt.Errorf("%s: %v", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return c, fmt.Errorf("%s: unknown settings: %s", path, strings.Join(keys, ", "))
	}
	return c, nil
}

// SaveConfig writes c as TOML, atomically.
func SaveConfig(path string, c Config) error {
	var buf bytes.Buffer
	buf.WriteString("# Fynetune run configuration (fynetune train --config FILE)\n")
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes())
}

// KeepMode is the activation memory mode of the run's training passes.
func (c Config) KeepMode() model.KeepMode { return TrainingKeepMode(c.Recompute) }

// TrainingKeepMode is the activation memory mode of training passes:
// gradient checkpointing (model.KeepInputs) with recompute, else
// model.KeepLean.
func TrainingKeepMode(recompute bool) model.KeepMode {
	if recompute {
		return model.KeepInputs
	}
	return model.KeepLean
}
