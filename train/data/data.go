// Package data turns dataset files into token rows for LoRA fine-tuning.
//
// The path from a file to a batch is:
//
//	ReadFile      file -> []Record          (format detection, per-record errors with line numbers)
//	Template      Record -> []Segment       (prompt/chat template; each segment scored or not)
//	Encoder       []Segment -> tokens       (tokenize, mark scored tokens, end-of-turn EOS)
//	Load          tokens -> []Example       (truncate, pack or cut LM windows, split, stats)
//	Batcher       []Example -> [B*T]int32   (shuffle per epoch by seed, pad, resumable position)
//
// # Labels
//
// An Example holds the model inputs IDs and the targets Labels, already shifted:
// Labels[i] is the token the model should predict after reading IDs[0..i], or
// IgnoreIndex (-100) where that position is not scored. The trainer scores
// logits[i] against Labels[i] and never shifts again. A tokenized sequence
// t[0..n) becomes IDs = t[0..n-1) and Labels[i] = t[i+1] when token i+1 is scored.
// The seq-len of a row is len(IDs), so a row of seq-len T holds T+1 tokens.
//
// # Masking
//
// For prompt/completion, alpaca and chat records only the responses are scored
// (completion-only loss): everything up to and including the assistant header
// has label -100; the response tokens and the end-of-turn token after them are
// scored. In multi-turn chats every assistant turn is scored and no other turn
// is. When a response is not followed by a stop token (the tokenizer's EOS or a
// known single-token end-of-turn marker such as <|im_end|> or <|eot_id|>), the
// encoder appends EOS so that the model learns to stop.
//
// The boundary between prompt and response is found by rendering prefixes of
// the conversation (for Jinja templates: the first i messages with
// add_generation_prompt) and keeping the rendered text as segments. The
// segments are then tokenized so that the boundary is exact: the whole text is
// tokenized once and every prefix up to a boundary is tokenized again; when
// each prefix's tokens are a prefix of the whole text's tokens (the usual case)
// the whole-text tokens are used, so the ids equal what the model sees when the
// same conversation is tokenized in one piece. When a BPE merge crosses a
// boundary the encoder instead tokenizes prompt and response separately and
// concatenates them, as most SFT tools do (this changes the tokens at the
// boundary a little; Stats.SplitTokenized counts such examples).
//
// # Formats and templates
//
// Formats (detected from the extension and the first record's keys, or
// chosen): plain text (.txt: documents split on <|endoftext|> lines, blank
// lines or per line), JSON arrays or JSONL of {"text"}, {"prompt",
// "completion"}, alpaca {"instruction","input","output"[,"system"]}, chat
// {"messages":[{"role","content"}]} and ShareGPT {"conversations":[{"from",
// "value"}]}, and CSV/TSV with a header row.
//
// Templates: the model's own chat_template (Jinja, rendered with gonja as
// transformers renders it) or the built-ins chatml, llama-2, llama-3,
// alpaca (Stanford Alpaca), plain and none; see ResolveTemplate for what
// "auto" picks.
//
// # Use
//
//	ds, err := data.Load(data.Config{Path: "train.jsonl", SeqLen: 512, Truncate: true,
//		ValFraction: 0.1, Seed: 1}, tok)
//	b, err := data.NewBatcher(ds.Train, data.BatcherOptions{BatchSize: 8, SeqLen: 512,
//		Shuffle: true, Seed: 1, PadID: data.PadID(tok)})
//	inputs, targets := make([]int32, 8*512), make([]int32, 8*512)
//	for {
//		info, err := b.Next(inputs, targets) // the loss is scored where targets != -100
//		...
//		checkpoint.Position = b.Position() // resume with b.SetPosition
//	}
package data

// IgnoreIndex is the label of a position that is not scored.
const IgnoreIndex = -100

// Tokenizer is what this package needs from a model's tokenizer.
type Tokenizer interface {
	// Encode tokenizes text without adding special tokens; special tokens
	// written in the text (such as "<|im_end|>") are matched as such.
	Encode(text string) []int
	// BOS is the beginning-of-sequence id, or -1 when the model has none.
	BOS() int
	// EOS is the end-of-sequence id, or -1 when the model has none.
	EOS() int
	// ChatTemplate is the model's Jinja chat template, or "" when none.
	ChatTemplate() string
	// TokenString is the string form of one token id (used for the
	// bos_token/eos_token template variables and for previews).
	TokenString(id int) string
	// AddsBOS reports whether the model's tokenizer adds BOS to an encoded
	// text (tokenizer_config add_bos_token, or a post-processor that does).
	AddsBOS() bool
}

// Example is one training row before padding.
type Example struct {
	// IDs are the input token ids, len(IDs) <= the seq-len.
	IDs []int32
	// Labels[i] is the target for position i (the id at i+1 when scored),
	// or IgnoreIndex. len(Labels) == len(IDs).
	Labels []int32
	// Text is the rendered text the tokens came from (empty for LM windows).
	Text string
	// Source is the file the example came from.
	Source string
	// Line is the 1-based line of the (first) record in Source.
	Line int
	// Records is how many records this row holds (more than one when packed).
	Records int
}

// Scored returns the number of positions whose label is not IgnoreIndex.
func (e *Example) Scored() int {
	n := 0
	for _, l := range e.Labels {
		if l != IgnoreIndex {
			n++
		}
	}
	return n
}
