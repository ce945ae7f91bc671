package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/model/tokenizer"
	"github.com/fynetune/fynetune/train"
	"github.com/fynetune/fynetune/train/data"
)

// The engine's types the window uses, named here so the ui package needs
// to import only app.
type (
	// RunConfig is a training run's settings (the TOML of --config).
	RunConfig = train.Config
	// Metrics is one training step's record.
	Metrics = train.Metrics
	// DataStats describe a loaded dataset: format, template, counts,
	// truncation, bad records and a preview.
	DataStats = data.Stats
	// SampleOptions control generation in the chat pane.
	SampleOptions = model.SampleOptions
)

// DefaultRunConfig is what a new run starts from.
func DefaultRunConfig() RunConfig { return train.DefaultConfig() }

// LoadRunConfig reads a run configuration TOML file (as `fynetune train
// --config` does): unknown keys are an error naming them.
func LoadRunConfig(path string) (RunConfig, error) { return train.LoadConfig(path) }

// SaveRunConfig writes a run configuration TOML file.
func SaveRunConfig(path string, c RunConfig) error { return train.SaveConfig(path, c) }

// Schedules lists the learning-rate schedules.
var Schedules = []string{"constant", "linear", "cosine"}

// DataFormats lists the dataset formats ("auto" detects).
var DataFormats = []string{string(data.FormatAuto), string(data.FormatText), string(data.FormatJSONLText),
	string(data.FormatPromptCompletion), string(data.FormatAlpaca), string(data.FormatChat),
	string(data.FormatShareGPT), string(data.FormatCSV)}

// InspectDataset reads a dataset as a run of cfg on the model in modelDir
// would (format, template, max length, validation split), tokenizing it
// with the model's tokenizer. Bad records do not stop it: they are listed
// in Stats.Bad with their lines. preview is the number of records to
// render in Stats.Preview. When the dataset cannot be used at all, the
// error comes with partial stats listing the bad records found.
func InspectDataset(path, modelDir string, cfg RunConfig, preview int) (*DataStats, error) {
	if modelDir == "" {
		return nil, fmt.Errorf("open a model first: the dataset is tokenized with the model's tokenizer")
	}
	tok, err := tokenizer.Load(modelDir)
	if err != nil {
		return nil, err
	}
	format, err := data.ParseFormat(cfg.Format)
	if err != nil {
		return nil, err
	}
	tmpl := cfg.Template
	if tmpl == data.TemplateAuto {
		tmpl = ""
	}
	dc := data.Config{Path: path, Template: tmpl, SeqLen: max(cfg.SeqLen, 2), Truncate: true, Pack: cfg.Packing,
		Seed: cfg.Seed, PreviewCount: preview, ValFraction: cfg.ValidSplit}
	dc.Format, dc.SkipBad = format, true
	ds, err := data.Load(dc, train.TokAdapter{Tokenizer: tok})
	if err != nil {
		// Still list the records that could not be read, so the window
		// can show what to fix.
		st := &DataStats{Path: path, Format: format}
		if rr, rerr := data.ReadFile(path, dc.ReadOptions); rr != nil {
			st.Format, st.Bad, st.Records = rr.Format, rr.Bad, len(rr.Records)
		} else if rerr != nil && strings.EqualFold(filepath.Ext(path), ".jsonl") {
			// no good record at all: read again keeping every error
			st.Bad = readAllBad(path, dc.ReadOptions)
		}
		return st, err
	}
	return &ds.Stats, nil
}

// readAllBad lists every bad record of a JSONL file none of whose records
// is good, by reading it line by line through the strict reader.
func readAllBad(path string, opt data.ReadOptions) []data.RecordError {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	opt.SkipBad = false
	var out []data.RecordError
	lines := strings.SplitAfter(string(b), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		// each line alone, padded so the reader reports its real line
		_, err := data.Read(path, []byte(strings.Repeat("\n", i)+l), opt)
		var re *data.RecordError
		if errors.As(err, &re) {
			out = append(out, *re)
		}
		if len(out) >= 1000 {
			break
		}
	}
	return out
}
