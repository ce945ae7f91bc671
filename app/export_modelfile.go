package app

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fynetune/fynetune/model"
)

// ModelfileName is the Ollama Modelfile written beside a GGUF export.
const ModelfileName = "Modelfile"

// ollamaTemplate is an Ollama (Go text/template) translation of a family
// of Jinja chat templates, with the stop strings its turns end with.
type ollamaTemplate struct {
	name   string
	marker []string // substrings of the Jinja template that identify the family (all must occur)
	tmpl   string
	stops  []string
}

// ollamaTemplates are tried in order against the model's Jinja template.
var ollamaTemplates = []ollamaTemplate{
	{
		name:   "chatml",
		marker: []string{"<|im_start|>"},
		tmpl: `{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
`,
		stops: []string{"<|im_start|>", "<|im_end|>"},
	},
	{
		name:   "llama-3",
		marker: []string{"<|start_header_id|>"},
		tmpl: `{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>

{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>

`,
		stops: []string{"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"},
	},
	{
		name:   "zephyr",
		marker: []string{"<|user|>", "<|assistant|>"},
		tmpl: `{{- range .Messages }}<|{{ .Role }}|>
{{ .Content }}</s>
{{ end }}<|assistant|>
`,
		stops: []string{"<|system|>", "<|user|>", "<|assistant|>", "</s>"},
	},
	{
		name:   "llama-2",
		marker: []string{"[INST]"},
		tmpl: `{{- range $i, $m := .Messages }}
{{- if eq $m.Role "user" }}[INST] {{ if and $.System (le $i 1) }}<<SYS>>
{{ $.System }}
<</SYS>>

{{ end }}{{ $m.Content }} [/INST]
{{- else if eq $m.Role "assistant" }} {{ $m.Content }}</s><s>
{{- end }}
{{- end }}`,
		stops: []string{"[INST]", "[/INST]", "<<SYS>>", "<</SYS>>"},
	},
}

// genericTemplate is used when the model's chat template is not one of
// the families above.
const genericTemplate = `{{- range .Messages }}{{ .Role }}: {{ .Content }}
{{ end }}assistant: `

// plainTemplate is used for a model without a chat template.
const plainTemplate = `{{ .Prompt }}`

// ollamaTemplateFor translates a Jinja chat template to Ollama's template
// language. kind names what was chosen: a family, "generic" or "plain".
func ollamaTemplateFor(jinja string) (tmpl string, stops []string, kind string) {
	if strings.TrimSpace(jinja) == "" {
		return plainTemplate, nil, "plain"
	}
	for _, t := range ollamaTemplates {
		all := true
		for _, mk := range t.marker {
			all = all && strings.Contains(jinja, mk)
		}
		if all {
			return t.tmpl, t.stops, t.name
		}
	}
	return genericTemplate, nil, "generic"
}

// modelfile builds an Ollama Modelfile: FROM from, ADAPTER adapter (when
// not ""), the chat template and the stop strings.
func modelfile(m *model.Model, from, adapter string) (string, []string) {
	var notes []string
	var b strings.Builder
	fmt.Fprintf(&b, "# Ollama Modelfile written by Fynetune for %s.\n", m.Dir)
	b.WriteString("# Create the model with: ollama create NAME -f Modelfile\n")
	if adapter != "" {
		b.WriteString("# FROM names the base model the adapter was trained on (its Hugging Face folder,\n")
		b.WriteString("# which Ollama converts); a GGUF of the same base works too and loads faster.\n")
	}
	fmt.Fprintf(&b, "FROM %s\n", from)
	if adapter != "" {
		fmt.Fprintf(&b, "ADAPTER %s\n", adapter)
	}
	tmpl, stops, kind := ollamaTemplateFor(m.Tok.ChatTemplate())
	switch kind {
	case "plain":
		notes = append(notes, "the model has no chat template: the Modelfile TEMPLATE passes the prompt through as it is")
	case "generic":
		notes = append(notes, "the model's chat template is none of chatml, llama-3, llama-2 or zephyr: the Modelfile has a generic \"role: content\" TEMPLATE; edit it to match the model (the GGUF keeps the original in tokenizer.chat_template)")
	default:
		notes = append(notes, fmt.Sprintf("the Modelfile TEMPLATE is the %s chat format, translated from the model's Jinja template", kind))
	}
	fmt.Fprintf(&b, "TEMPLATE \"\"\"%s\"\"\"\n", tmpl)
	seen := map[string]bool{}
	if eos := m.Tok.EOS(); eos >= 0 {
		stops = append([]string{m.Tok.TokenString(eos)}, stops...)
	}
	for _, s := range stops {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		fmt.Fprintf(&b, "PARAMETER stop %s\n", strconv.Quote(s))
	}
	return b.String(), notes
}

// writeModelfile writes the Modelfile beside a GGUF export.
func (x *exporter) writeModelfile(from, adapter string) error {
	text, notes := modelfile(x.m, from, adapter)
	for _, n := range notes {
		x.note("%s", n)
	}
	return x.st.writeBytes(ModelfileName, []byte(text))
}
