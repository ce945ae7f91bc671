package data

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
)

// JinjaTemplate is a Hugging Face chat template (tokenizer_config.json
// "chat_template") rendered with gonja the way transformers'
// apply_chat_template renders it: trim_blocks and lstrip_blocks on, the
// variables messages, bos_token, eos_token, add_generation_prompt, tools and
// documents (none), and the functions raise_exception and strftime_now.
// A JinjaTemplate is not safe for concurrent use.
type JinjaTemplate struct {
	name   string
	source string
	tpl    *exec.Template
}

// rootLoader serves the template source and refuses every other path, so a
// model's template cannot include files from the disk.
type rootLoader struct{ src string }

const rootID = "chat_template"

// Read returns the template source for rootID.
func (l rootLoader) Read(path string) (io.Reader, error) {
	if path != rootID {
		return nil, fmt.Errorf("chat templates may not load other templates (%q)", path)
	}
	return strings.NewReader(l.src), nil
}

// Resolve accepts rootID only.
func (l rootLoader) Resolve(path string) (string, error) {
	if path != rootID {
		return "", fmt.Errorf("chat templates may not load other templates (%q)", path)
	}
	return path, nil
}

// Inherit returns the same loader.
func (l rootLoader) Inherit(string) (loaders.Loader, error) { return l, nil }

// NewJinjaTemplate compiles a chat template; name is reported by Name.
func NewJinjaTemplate(name, source string) (t *JinjaTemplate, err error) {
	defer func() {
		if p := recover(); p != nil {
			t, err = nil, fmt.Errorf("chat template %s: gonja panicked while parsing: %v", name, p)
		}
	}()
	cfg := config.New()
	cfg.TrimBlocks = true
	cfg.LeftStripBlocks = true
	env := &exec.Environment{
		Context:           exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables),
		Filters:           builtins.Filters,
		Tests:             builtins.Tests,
		ControlStructures: builtins.ControlStructures,
		Methods:           builtins.Methods,
	}
	tpl, err := exec.NewTemplate(rootID, cfg, rootLoader{source}, env)
	if err != nil {
		return nil, fmt.Errorf("chat template %s does not compile: %v", name, shortErr(err, source))
	}
	return &JinjaTemplate{name: name, source: source, tpl: tpl}, nil
}

// shortErr drops the template source that gonja puts in its parse errors.
func shortErr(err error, source string) string {
	return strings.ReplaceAll(err.Error(), "'"+source+"'", "chat_template")
}

// Name returns the name given to NewJinjaTemplate.
func (t *JinjaTemplate) Name() string { return t.name }

// Source returns the template text.
func (t *JinjaTemplate) Source() string { return t.source }

// Apply renders messages to text like transformers'
// apply_chat_template(messages, tokenize=False, add_generation_prompt=...).
func (t *JinjaTemplate) Apply(msgs []Message, sp Specials, addGenerationPrompt bool) (out string, err error) {
	var raised string
	defer func() {
		if p := recover(); p != nil {
			out, err = "", fmt.Errorf("chat template %s: gonja panicked: %v", t.name, p)
		}
	}()
	list := make(jinjaList, len(msgs))
	for i, m := range msgs {
		list[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	ctx := exec.NewContext(map[string]any{
		"messages":              list,
		"bos_token":             sp.BOSText,
		"eos_token":             sp.EOSText,
		"add_generation_prompt": addGenerationPrompt,
		"tools":                 nil,
		"documents":             nil,
		"raise_exception": func(msg string) (string, error) {
			raised = msg
			return "", errors.New(msg)
		},
		"strftime_now": strftimeNow,
	})
	var buf bytes.Buffer
	if err := t.tpl.Execute(&buf, ctx); err != nil {
		if raised != "" {
			return "", fmt.Errorf("chat template %s: %s", t.name, raised)
		}
		return "", fmt.Errorf("chat template %s: %v", t.name, err)
	}
	return buf.String(), nil
}

// Render splits the rendered conversation at its assistant turns. For each
// assistant message i the template is rendered for messages[:i] with
// add_generation_prompt; that text must be a prefix of the whole
// conversation's rendering, and everything up to its end (the assistant
// header included) is the unscored prompt. The scored response runs from
// there to the end of the message's content plus the end-of-turn token that
// follows it (eos_token or a known marker such as <|im_end|>, after optional
// whitespace). Text after that (a newline, the next turns) is unscored.
func (t *JinjaTemplate) Render(r *Record, sp Specials) ([]Segment, error) {
	msgs := r.Conversation()
	full, err := t.Apply(msgs, sp, false)
	if err != nil {
		return nil, err
	}
	// the prompt before each assistant message ends where its response starts
	var turns, starts []int
	for i, m := range msgs {
		if m.Role != RoleAssistant {
			continue
		}
		prefix, err := t.Apply(msgs[:i], sp, true)
		if err != nil {
			return nil, fmt.Errorf("rendering the %d messages before assistant message %d: %w", i, i, err)
		}
		if !strings.HasPrefix(full, prefix) || (len(starts) > 0 && len(prefix) < starts[len(starts)-1]) {
			return nil, fmt.Errorf("chat template %s: the prompt before assistant message %d is not a prefix of the whole conversation, so the response cannot be located; choose a built-in template", t.name, i)
		}
		turns, starts = append(turns, i), append(starts, len(prefix))
	}
	var segs []Segment
	pos := 0
	for k, i := range turns {
		start, limit := starts[k], len(full)
		if k+1 < len(starts) {
			limit = starts[k+1]
		}
		if start < pos {
			return nil, fmt.Errorf("chat template %s: assistant message %d starts inside the response before it", t.name, i)
		}
		end, err := t.responseEnd(full, start, limit, msgs, i, sp)
		if err != nil {
			return nil, err
		}
		if start > pos {
			segs = append(segs, Segment{Text: full[pos:start]})
		}
		segs = append(segs, Segment{Text: full[start:end], Scored: true, EndOfTurn: true})
		pos = end
	}
	if segs == nil {
		return nil, fmt.Errorf("chat template %s: no assistant message", t.name)
	}
	if pos < len(full) {
		segs = append(segs, Segment{Text: full[pos:]})
	}
	return segs, nil
}

// EndOfTurnMarkers are the end-of-turn strings of common chat templates; a
// response is scored through the first of these (or eos_token) after its text.
var EndOfTurnMarkers = []string{"<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
	"<|end_of_text|>", "</s>", "<|EOT|>", "<|END_OF_TURN_TOKEN|>", "<｜end▁of▁sentence｜>"}

// responseEnd finds the end of assistant message i's response, which starts
// at start and ends before limit (the start of the next response).
func (t *JinjaTemplate) responseEnd(full string, start, limit int, msgs []Message, i int, sp Specials) (int, error) {
	content := strings.TrimSpace(msgs[i].Content)
	end := start
	if content != "" {
		k := strings.Index(full[start:limit], content)
		if k >= 0 {
			end = start + k + len(content)
		} else {
			// the template changes the content (strips parts of it, ...):
			// the response ends where the conversation up to it ends
			upTo, err := t.Apply(msgs[:i+1], sp, false)
			if err != nil || !strings.HasPrefix(full, upTo) || len(upTo) < start || len(upTo) > limit {
				return 0, fmt.Errorf("chat template %s: cannot find the text of assistant message %d in the rendered conversation", t.name, i)
			}
			end = len(upTo)
		}
	}
	j := end
	for j < limit && strings.IndexByte(" \t\r\n", full[j]) >= 0 {
		j++
	}
	rest := full[j:limit]
	if sp.EOSText != "" && strings.HasPrefix(rest, sp.EOSText) {
		return j + len(sp.EOSText), nil
	}
	for _, m := range EndOfTurnMarkers {
		if strings.HasPrefix(rest, m) {
			return j + len(m), nil
		}
	}
	return end, nil
}

// jinjaList is the messages list. Its GetItem indexes like Python: gonja
// v2.9.1 returns none for list[-n] on a list of n items (so messages[-1]
// fails on a one-message list).
type jinjaList []any

// GetItem returns l[i] for an int key, counting from the end when negative.
func (l jinjaList) GetItem(key any) (*exec.Value, bool) {
	i, ok := key.(int)
	if !ok {
		return exec.AsValue(nil), false
	}
	if i < 0 {
		i += len(l)
	}
	if i < 0 || i >= len(l) {
		return exec.AsValue(nil), false
	}
	return exec.ToValue(l[i]), true
}

// strftimeNow implements transformers' strftime_now(format) for the usual
// directives.
func strftimeNow(format string) string {
	now := time.Now()
	r := strings.NewReplacer("%d", now.Format("02"), "%m", now.Format("01"), "%Y", now.Format("2006"),
		"%y", now.Format("06"), "%b", now.Format("Jan"), "%B", now.Format("January"), "%a", now.Format("Mon"),
		"%A", now.Format("Monday"), "%H", now.Format("15"), "%M", now.Format("04"), "%S", now.Format("05"),
		"%-d", now.Format("2"), "%%", "%")
	return r.Replace(format)
}
