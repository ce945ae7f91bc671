package app

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/train"
	"github.com/fynetune/fynetune/train/data"
)

// PromptRaw is the chat pane's prompt format that sends the text as it is.
const PromptRaw = "raw"

// PromptFormats lists the formats ChatPromptIDs accepts: "auto" (the
// model's chat template when it has one, else raw), raw, the model's own
// template and the built-in templates of package data.
var PromptFormats = []string{data.TemplateAuto, PromptRaw, data.TemplateModel, data.TemplateChatML,
	data.TemplateLlama2, data.TemplateLlama3, data.TemplateAlpaca, data.TemplatePlain}

// ChatPromptIDs turns a user message into the tokens a model continues:
// the model's chat template with the generation prompt, a built-in
// template's prompt part, or (raw) the text itself, BOS first when the
// tokenizer adds one.
func ChatPromptIDs(m *model.Model, format, user string) ([]int, error) {
	tok := train.TokAdapter{Tokenizer: m.Tok}
	sp := data.SpecialsOf(tok)
	if format == "" || format == data.TemplateAuto {
		format = PromptRaw
		if strings.TrimSpace(m.Tok.ChatTemplate()) != "" {
			format = data.TemplateModel
		}
	}
	switch format {
	case PromptRaw:
		return m.Tok.EncodeWithSpecial(user), nil
	case data.TemplateModel:
		t, err := data.TemplateByName(data.TemplateModel, m.Tok.ChatTemplate())
		if err != nil {
			return nil, err
		}
		text, err := t.(*data.JinjaTemplate).Apply([]data.Message{{Role: data.RoleUser, Content: user}}, sp, true)
		if err != nil {
			return nil, err
		}
		return m.Tok.Encode(text), nil
	}
	t, err := data.TemplateByName(format, "")
	if err != nil {
		return nil, err
	}
	rec := &data.Record{Kind: data.KindPromptCompletion, Prompt: user, Completion: ""}
	segs, err := t.Render(rec, sp)
	if err != nil {
		return nil, fmt.Errorf("prompt format %s: %w", format, err)
	}
	var prompt []data.Segment
	for _, s := range segs {
		if s.Scored {
			break
		}
		prompt = append(prompt, s)
	}
	return data.NewEncoder(tok).Encode(prompt).IDs, nil
}

// Chat holds one base model for the chat pane and switches adapters on it
// without reloading the base. Its methods are safe for concurrent use;
// generations run one at a time.
type Chat struct {
	mu         sync.Mutex
	m          *model.Model
	set        *train.Adapters
	adapterDir string
}

// OpenChat loads a model folder on the named backend with its frozen
// weights at bits (16, 8 or 4; 0 means 16), as a run trains it.
func OpenChat(modelDir, backend string, bits int) (*Chat, error) {
	m, err := OpenModel(modelDir, backend, "", bits)
	if err != nil {
		return nil, err
	}
	return &Chat{m: m}, nil
}

// ModelDir is the base model's folder.
func (c *Chat) ModelDir() string { return c.m.Dir }

// AdapterDir is the loaded adapter's folder ("" when none).
func (c *Chat) AdapterDir() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.adapterDir
}

// SetAdapter loads the PEFT adapter in dir onto the base, replacing the one
// loaded before; "" removes it. The base weights are not reloaded.
func (c *Chat) SetAdapter(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if dir == c.adapterDir {
		return nil
	}
	if c.set != nil {
		c.set.Detach(c.m)
		c.set, c.adapterDir = nil, ""
	}
	if dir == "" {
		return nil
	}
	set, err := train.LoadAdapter(dir, c.m)
	if err != nil {
		return err
	}
	set.SetTraining(false)
	set.Detach(c.m) // attached only while generating with it
	c.set, c.adapterDir = set, dir
	return nil
}

// attach hooks the loaded adapter's modules into the model; c.mu is held.
func (c *Chat) attach() {
	byPath := map[string]*model.Linear{}
	for _, l := range c.m.Linears() {
		byPath[l.Path] = l
	}
	for _, l := range c.set.Mods {
		if lin := byPath[l.Path]; lin != nil {
			lin.Adapter = l
		}
	}
}

// Generate continues user's message in the given prompt format (see
// ChatPromptIDs), with the adapter when withAdapter (an error when none is
// loaded), calling emit with each new piece of text as it is decoded; emit
// returning false stops. It returns the whole answer.
func (c *Chat) Generate(ctx context.Context, format, user string, withAdapter bool, opt model.SampleOptions, emit func(piece string) bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if withAdapter {
		if c.set == nil {
			return "", fmt.Errorf("no adapter loaded; train a run or open an adapter folder first")
		}
		c.attach()
		defer c.set.Detach(c.m)
	}
	ids, err := ChatPromptIDs(c.m, format, user)
	if err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("the prompt is empty")
	}
	dec := c.m.Tok.NewDecoder()
	var out strings.Builder
	_, err = c.m.Generate(ctx, ids, opt, func(id int) bool {
		s := dec.Next(id)
		out.WriteString(s)
		if s != "" && emit != nil {
			return emit(s)
		}
		return true
	})
	if s := dec.Flush(); s != "" {
		out.WriteString(s)
		if emit != nil {
			emit(s)
		}
	}
	return out.String(), err
}

// Close releases the model.
func (c *Chat) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m.Close()
}
