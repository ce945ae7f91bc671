package app

import (
	"context"
	"fmt"

	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/train"
	"github.com/fynetune/fynetune/train/data"
)

// EvalResult is the score of a model on a data file.
type EvalResult struct {
	Tokens int     `json:"tokens"` // scored positions
	Loss   float64 `json:"loss"`   // mean cross-entropy
}

// Evaluate scores every row of a data file, read exactly as training reads
// it: a text file becomes documents joined with EOS and cut into
// non-overlapping windows of seqLen tokens; prompt/response records score
// their responses only.
func Evaluate(ctx context.Context, m *model.Model, path string, seqLen, batch int, format, template string) (EvalResult, error) {
	if seqLen > m.Config.MaxPos {
		seqLen = m.Config.MaxPos
	}
	f, err := data.ParseFormat(format)
	if err != nil {
		return EvalResult{}, err
	}
	dc := data.Config{Path: path, SeqLen: seqLen, Truncate: true, Template: template}
	dc.Format = f
	tok := train.TokAdapter{Tokenizer: m.Tok}
	ds, err := data.Load(dc, tok)
	if err != nil {
		return EvalResult{}, err
	}
	rows := append(ds.Train, ds.Val...)
	sum, n, err := train.ScoreRows(ctx, train.NewStepperMode(m, batch, seqLen, model.KeepNone), rows, 0, data.PadID(tok))
	if err != nil {
		return EvalResult{}, err
	}
	if n == 0 {
		return EvalResult{}, fmt.Errorf("%s: no scored tokens", path)
	}
	return EvalResult{Tokens: n, Loss: sum / float64(n)}, nil
}
