package data

import (
	"fmt"
	"strings"
)

// Segment is a piece of a rendered example and whether its tokens are scored.
type Segment struct {
	// Text is the rendered text. For a token segment it is the token's string.
	Text string
	// Tokens, when not nil, are the ids of this segment, used instead of
	// tokenizing Text (for BOS and EOS).
	Tokens []int
	// Scored marks response text: its tokens are trained on.
	Scored bool
	// EndOfTurn marks the last segment of an assistant turn: when its tokens
	// do not end with a stop token, the encoder appends EOS (scored).
	EndOfTurn bool
}

// Specials are the tokenizer's special tokens as templates need them.
type Specials struct {
	BOS, EOS         int    // ids, -1 when none
	BOSText, EOSText string // their strings ("" when none)
	// AddBOS: the model's tokenizer adds BOS to encoded text, so the
	// built-in templates start with BOS (Jinja templates write their own).
	AddBOS bool
}

// SpecialsOf reads the special tokens of a tokenizer.
func SpecialsOf(tok Tokenizer) Specials {
	sp := Specials{BOS: tok.BOS(), EOS: tok.EOS(), AddBOS: tok.AddsBOS()}
	if sp.BOS >= 0 {
		sp.BOSText = tok.TokenString(sp.BOS)
	} else {
		sp.AddBOS = false
	}
	if sp.EOS >= 0 {
		sp.EOSText = tok.TokenString(sp.EOS)
	}
	return sp
}

func (sp Specials) bos() []Segment {
	if sp.BOS < 0 {
		return nil
	}
	return []Segment{{Text: sp.BOSText, Tokens: []int{sp.BOS}}}
}

func (sp Specials) leadingBOS() []Segment {
	if !sp.AddBOS {
		return nil
	}
	return sp.bos()
}

// eos is a scored end-of-turn EOS segment (nothing when the model has none;
// the encoder then has nothing to append either).
func (sp Specials) eos() []Segment {
	if sp.EOS < 0 {
		return nil
	}
	return []Segment{{Text: sp.EOSText, Tokens: []int{sp.EOS}, Scored: true, EndOfTurn: true}}
}

// Template renders records into segments.
type Template interface {
	// Name is the template's name ("chatml", "model", ...).
	Name() string
	// Render renders one prompt/completion, alpaca or chat record.
	Render(r *Record, sp Specials) ([]Segment, error)
}

// The template names accepted by TemplateByName and Config.Template.
const (
	TemplateAuto   = "auto"    // the model's chat template when it has one, else a built-in by format
	TemplateModel  = "model"   // the model's own Jinja chat_template
	TemplateChatML = "chatml"  // <|im_start|>role\n...<|im_end|>\n
	TemplateLlama2 = "llama-2" // <s>[INST] <<SYS>>...<</SYS>> ... [/INST] ... </s>
	TemplateLlama3 = "llama-3" // <|begin_of_text|><|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
	TemplateAlpaca = "alpaca"  // the Stanford Alpaca prompt
	TemplatePlain  = "plain"   // ### Instruction:\n...\n\n### Response:\n...
	TemplateNone   = "none"    // prompt + completion as they are, no markup
)

// Templates lists the template names a user may choose.
var Templates = []string{TemplateAuto, TemplateModel, TemplateChatML, TemplateLlama2, TemplateLlama3,
	TemplateAlpaca, TemplatePlain, TemplateNone}

// TemplateByName returns a built-in template, or for "model" the Jinja
// template chatTemplate (an error when it is empty or does not compile).
// "auto" is resolved by Load (see ResolveTemplate).
func TemplateByName(name, chatTemplate string) (Template, error) {
	switch name {
	case TemplateChatML:
		return chatML{}, nil
	case TemplateLlama2:
		return llama2{}, nil
	case TemplateLlama3:
		return llama3{}, nil
	case TemplateAlpaca:
		return alpaca{plain: false}, nil
	case TemplatePlain:
		return alpaca{plain: true}, nil
	case TemplateNone:
		return raw{}, nil
	case TemplateModel:
		if strings.TrimSpace(chatTemplate) == "" {
			return nil, fmt.Errorf("template %q: the model has no chat_template", name)
		}
		return NewJinjaTemplate(TemplateModel, chatTemplate)
	}
	return nil, fmt.Errorf("unknown template %q (want one of %s)", name, strings.Join(Templates, ", "))
}

// ResolveTemplate picks the template for records of the given format. For
// "auto": chat and ShareGPT records use the model's chat template when it has
// one, else chatml; alpaca records use the model's chat template when it has
// one, else alpaca; prompt/completion and text records use none (the text as
// it is). When the model's template does not compile, auto falls back to the
// built-in and says so in the returned warning.
func ResolveTemplate(name string, kind Kind, chatTemplate string) (t Template, warning string, err error) {
	if name == "" {
		name = TemplateAuto
	}
	if name != TemplateAuto {
		t, err = TemplateByName(name, chatTemplate)
		return t, "", err
	}
	fallback := TemplateNone
	switch kind {
	case KindChat:
		fallback = TemplateChatML
	case KindAlpaca:
		fallback = TemplateAlpaca
	}
	if (kind == KindChat || kind == KindAlpaca) && strings.TrimSpace(chatTemplate) != "" {
		t, err := NewJinjaTemplate(TemplateModel, chatTemplate)
		if err == nil {
			return t, "", nil
		}
		warning = fmt.Sprintf("the model's chat template cannot be used (%v); using the built-in %s template", err, fallback)
	}
	t, err = TemplateByName(fallback, "")
	return t, warning, err
}

// RenderRecord renders a record: text records become BOS (when the model's
// tokenizer adds it), the text and EOS, all scored; other records go through
// the template.
func RenderRecord(t Template, r *Record, sp Specials) ([]Segment, error) {
	if r.Kind == KindText {
		segs := sp.leadingBOS()
		segs = append(segs, Segment{Text: r.Text, Scored: true})
		return append(segs, sp.eos()...), nil
	}
	return t.Render(r, sp)
}

// checkTurns checks that a conversation has an assistant turn and that
// after an optional leading system message it alternates user/assistant,
// starting with user; it returns the system text and the turns.
func checkTurns(name string, msgs []Message) (system string, turns []Message, err error) {
	turns = msgs
	if len(turns) > 0 && turns[0].Role == RoleSystem {
		system, turns = turns[0].Content, turns[1:]
	}
	hasAssistant := false
	for i, m := range turns {
		want := RoleUser
		if i%2 == 1 {
			want = RoleAssistant
		}
		if m.Role != want {
			return "", nil, fmt.Errorf("template %s: message %d is %s; roles must alternate user/assistant after an optional first system message",
				name, i+len(msgs)-len(turns), m.Role)
		}
		hasAssistant = hasAssistant || m.Role == RoleAssistant
	}
	if !hasAssistant {
		return "", nil, fmt.Errorf("template %s: no assistant message", name)
	}
	return system, turns, nil
}

// ---- chatml ----

type chatML struct{}

// Name returns the template name.
func (chatML) Name() string { return TemplateChatML }

// Render writes every message as <|im_start|>role\ncontent<|im_end|>\n
// (the generic ChatML template, no default system prompt). The assistant's
// content and <|im_end|> are scored; the newline after it is not.
func (chatML) Render(r *Record, sp Specials) ([]Segment, error) {
	msgs := r.Conversation()
	segs := sp.leadingBOS()
	hasAssistant := false
	for _, m := range msgs {
		if m.Role != RoleAssistant {
			segs = append(segs, Segment{Text: "<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n"})
			continue
		}
		hasAssistant = true
		segs = append(segs,
			Segment{Text: "<|im_start|>assistant\n"},
			Segment{Text: m.Content + "<|im_end|>", Scored: true, EndOfTurn: true},
			Segment{Text: "\n"})
	}
	if !hasAssistant {
		return nil, fmt.Errorf("template chatml: no assistant message")
	}
	return segs, nil
}

// ---- llama-2 ----

type llama2 struct{}

// Name returns the template name.
func (llama2) Name() string { return TemplateLlama2 }

// Render follows meta-llama/Llama-2-7b-chat-hf's chat template: each user
// turn is BOS "[INST] " + content.strip() + " [/INST]" (the system message
// wrapped in <<SYS>> tags goes into the first one) and each assistant turn is
// " " + content.strip() + " " EOS, scored.
func (llama2) Render(r *Record, sp Specials) ([]Segment, error) {
	system, turns, err := checkTurns(TemplateLlama2, r.Conversation())
	if err != nil {
		return nil, err
	}
	var segs []Segment
	for i, m := range turns {
		content := m.Content
		if i == 0 && system != "" {
			content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content
		}
		content = strings.TrimSpace(content)
		if m.Role == RoleUser {
			segs = append(segs, sp.bos()...)
			segs = append(segs, Segment{Text: "[INST] " + content + " [/INST]"})
			continue
		}
		segs = append(segs, Segment{Text: " " + content + " ", Scored: true})
		if e := sp.eos(); e != nil {
			segs = append(segs, e...)
		} else {
			segs[len(segs)-1].EndOfTurn = true
		}
	}
	return segs, nil
}

// ---- llama-3 ----

type llama3 struct{}

// Name returns the template name.
func (llama3) Name() string { return TemplateLlama3 }

// Render follows Meta-Llama-3-8B-Instruct's chat template: BOS, then each
// message as <|start_header_id|>role<|end_header_id|>\n\n + content|trim +
// <|eot_id|>. The assistant's content and <|eot_id|> are scored.
func (llama3) Render(r *Record, sp Specials) ([]Segment, error) {
	msgs := r.Conversation()
	segs := sp.bos()
	hasAssistant := false
	for _, m := range msgs {
		header := "<|start_header_id|>" + m.Role + "<|end_header_id|>\n\n"
		body := strings.TrimSpace(m.Content) + "<|eot_id|>"
		if m.Role != RoleAssistant {
			segs = append(segs, Segment{Text: header + body})
			continue
		}
		hasAssistant = true
		segs = append(segs, Segment{Text: header}, Segment{Text: body, Scored: true, EndOfTurn: true})
	}
	if !hasAssistant {
		return nil, fmt.Errorf("template llama-3: no assistant message")
	}
	return segs, nil
}

// ---- alpaca and plain ----

// The Stanford Alpaca prompt preambles.
const (
	AlpacaPreamble          = "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
	AlpacaPreambleWithInput = "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n"
)

type alpaca struct{ plain bool }

// Name returns the template name.
func (a alpaca) Name() string {
	if a.plain {
		return TemplatePlain
	}
	return TemplateAlpaca
}

// Render writes the Stanford Alpaca prompt ("Below is an instruction...",
// "### Instruction:\n{instruction}\n\n", "### Input:\n{input}\n\n" when there
// is an input, "### Response:\n") followed by the output and EOS, scored. The
// plain template is the same without the preamble. A system message (or
// alpaca "system" field) replaces the preamble as system + "\n\n". Chat
// records render each user turn as an instruction; later turns are separated
// from the previous response by "\n\n".
func (a alpaca) Render(r *Record, sp Specials) ([]Segment, error) {
	type turn struct{ instruction, input, output string }
	var system string
	var turns []turn
	if r.Kind == KindAlpaca {
		system = r.System
		turns = []turn{{r.Instruction, r.Input, r.Output}}
	} else {
		sys, msgs, err := checkTurns(a.Name(), r.Conversation())
		if err != nil {
			return nil, err
		}
		system = sys
		for i := 0; i+1 < len(msgs); i += 2 {
			turns = append(turns, turn{instruction: msgs[i].Content, output: msgs[i+1].Content})
		}
	}
	segs := sp.leadingBOS()
	var prompt strings.Builder
	switch {
	case system != "":
		prompt.WriteString(system + "\n\n")
	case a.plain:
	case turns[0].input != "":
		prompt.WriteString(AlpacaPreambleWithInput)
	default:
		prompt.WriteString(AlpacaPreamble)
	}
	for i, t := range turns {
		if i > 0 {
			prompt.WriteString("\n\n")
		}
		prompt.WriteString("### Instruction:\n" + t.instruction + "\n\n")
		if t.input != "" {
			prompt.WriteString("### Input:\n" + t.input + "\n\n")
		}
		prompt.WriteString("### Response:\n")
		segs = append(segs, Segment{Text: prompt.String()}, Segment{Text: t.output, Scored: true})
		prompt.Reset()
		if e := sp.eos(); e != nil {
			segs = append(segs, e...)
		} else {
			segs[len(segs)-1].EndOfTurn = true
		}
	}
	return segs, nil
}

// ---- none ----

type raw struct{}

// Name returns the template name.
func (raw) Name() string { return TemplateNone }

// Render writes prompt and completion as they are (BOS first when the
// tokenizer adds it), the completion and EOS scored. Only records that are a
// single user/assistant pair can be rendered without a template.
func (raw) Render(r *Record, sp Specials) ([]Segment, error) {
	var prompt, completion string
	switch r.Kind {
	case KindPromptCompletion:
		prompt, completion = r.Prompt, r.Completion
	default:
		msgs := r.Conversation()
		if len(msgs) != 2 || msgs[0].Role != RoleUser || msgs[1].Role != RoleAssistant {
			return nil, fmt.Errorf("template none renders prompt/completion records and single user/assistant pairs; choose a chat template for this %s record", r.Kind)
		}
		prompt, completion = msgs[0].Content, msgs[1].Content
	}
	segs := sp.leadingBOS()
	if prompt != "" {
		segs = append(segs, Segment{Text: prompt})
	}
	segs = append(segs, Segment{Text: completion, Scored: true})
	if e := sp.eos(); e != nil {
		return append(segs, e...), nil
	}
	segs[len(segs)-1].EndOfTurn = true
	return segs, nil
}
