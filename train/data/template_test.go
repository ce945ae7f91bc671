package data

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type goldenCase struct {
	Template            string `json:"template"`
	Conversation        string `json:"conversation"`
	AddGenerationPrompt bool   `json:"add_generation_prompt"`
	Output              string `json:"output"`
	Error               string `json:"error"`
}

type templateSpecials struct {
	BOS string `json:"bos_token"`
	EOS string `json:"eos_token"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadTemplate(t *testing.T, name string) *JinjaTemplate {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "templates", name+".jinja"))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := NewJinjaTemplate(name, string(src))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func goldenData(t *testing.T) (cases []goldenCase, convs map[string][]Message, specials map[string]Specials) {
	t.Helper()
	readJSON(t, "testdata/chat_golden.json", &cases)
	readJSON(t, "testdata/conversations.json", &convs)
	var sp map[string]templateSpecials
	readJSON(t, "testdata/templates/specials.json", &sp)
	specials = map[string]Specials{}
	for name, s := range sp {
		specials[name] = Specials{BOS: 0, EOS: 1, BOSText: s.BOS, EOSText: s.EOS}
	}
	return cases, convs, specials
}

// TestJinjaMatchesTransformers renders real Hugging Face chat templates with
// gonja and compares with the strings jinja2 renders in transformers'
// environment (testdata/gen_chat_golden.py wrote chat_golden.json).
func TestJinjaMatchesTransformers(t *testing.T) {
	cases, convs, specials := goldenData(t)
	if len(cases) < 100 {
		t.Fatalf("only %d golden cases", len(cases))
	}
	tpls := map[string]*JinjaTemplate{}
	for _, c := range cases {
		tpl := tpls[c.Template]
		if tpl == nil {
			tpl = loadTemplate(t, c.Template)
			tpls[c.Template] = tpl
		}
		got, err := tpl.Apply(convs[c.Conversation], specials[c.Template], c.AddGenerationPrompt)
		name := c.Template + "/" + c.Conversation
		if c.AddGenerationPrompt {
			name += "/gen"
		}
		if c.Error != "" {
			if err == nil || !strings.Contains(err.Error(), c.Error) {
				t.Errorf("%s: error = %v, want raise_exception(%q)", name, err, c.Error)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got != c.Output {
			t.Errorf("%s:\n got %q\nwant %q", name, got, c.Output)
		}
	}
}

// TestJinjaMasking checks which parts of real templates' renderings are
// scored: each assistant response and the end-of-turn token after it.
func TestJinjaMasking(t *testing.T) {
	_, convs, specials := goldenData(t)
	tests := []struct {
		template, conv string
		scored         []string
	}{
		{"chatml", "multi", []string{"2 + 2 = 4.<|im_end|>", " 3 + 3 = 6.\n<|im_end|>"}},
		{"qwen2", "multi", []string{"2 + 2 = 4.<|im_end|>", " 3 + 3 = 6.\n<|im_end|>"}},
		{"qwen2", "system", []string{"Arr, I be fine!<|im_end|>"}},
		{"qwen2.5", "multi_system", []string{"Blue.<|im_end|>", "Red.<|im_end|>"}},
		{"qwen1.5", "multi", []string{"2 + 2 = 4.<|im_end|>", " 3 + 3 = 6."}}, // the last turn has no <|im_end|>: the encoder adds EOS
		{"llama2", "multi", []string{" 2 + 2 = 4. </s>", " 3 + 3 = 6. </s>"}},
		{"llama2", "multi_system", []string{" Blue. </s>", " Red. </s>"}},
		{"llama3", "multi", []string{"2 + 2 = 4.<|eot_id|>", "3 + 3 = 6.<|eot_id|>"}},
		{"llama3", "unicode", []string{"Très bien ✓\nSecond line<|eot_id|>"}},
		{"mistral", "multi", []string{"2 + 2 = 4.</s>", " 3 + 3 = 6.\n</s>"}},
		{"zephyr", "multi_system", []string{"Blue.</s>", "Red.</s>"}},
		{"zephyr", "user_last", []string{"Hello!</s>"}},
		{"gemma", "multi", []string{"2 + 2 = 4.<end_of_turn>", "3 + 3 = 6.<end_of_turn>"}},
	}
	for _, tt := range tests {
		t.Run(tt.template+"/"+tt.conv, func(t *testing.T) {
			tpl := loadTemplate(t, tt.template)
			sp := specials[tt.template]
			rec := &Record{Kind: KindChat, Messages: convs[tt.conv]}
			segs, err := tpl.Render(rec, sp)
			if err != nil {
				t.Fatal(err)
			}
			full, err := tpl.Apply(rec.Messages, sp, false)
			if err != nil {
				t.Fatal(err)
			}
			var all strings.Builder
			var scored []string
			for _, s := range segs {
				all.WriteString(s.Text)
				if s.Scored {
					scored = append(scored, s.Text)
				}
			}
			if all.String() != full {
				t.Errorf("segments join to %q, want the rendering %q", all.String(), full)
			}
			if strings.Join(scored, "|") != strings.Join(tt.scored, "|") {
				t.Errorf("scored segments = %q, want %q", scored, tt.scored)
			}
		})
	}
}

// TestJinjaErrors: raise_exception and template problems become errors.
func TestJinjaErrors(t *testing.T) {
	_, convs, specials := goldenData(t)
	tests := []struct {
		template string
		msgs     []Message
		want     string
	}{
		{"llama2", convs["bad_roles"], "Conversation roles must alternate"},
		{"gemma", convs["system"], "System role not supported"},
		{"mistral", convs["system"], "Conversation roles must alternate"},
		{"qwen2", []Message{{RoleUser, "hi"}}, "no assistant message"},
	}
	for _, tt := range tests {
		tpl := loadTemplate(t, tt.template)
		_, err := tpl.Render(&Record{Kind: KindChat, Messages: tt.msgs}, specials[tt.template])
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want %q", tt.template, err, tt.want)
		}
	}
	if _, err := NewJinjaTemplate("broken", "{% for m in messages %}"); err == nil {
		t.Error("unterminated for: no error")
	}
	tpl, err := NewJinjaTemplate("include", `{% include "/etc/passwd" %}`)
	if err == nil {
		_, err = tpl.Apply(convs["single"], Specials{}, false)
	}
	if err == nil {
		t.Error("include of a file: no error")
	}
	// a template that rewrites earlier turns cannot be split into prompt and response
	tpl, err = NewJinjaTemplate("rewrite", `{% for m in messages %}{% if loop.last %}[last]{% endif %}{{ m.content }}{% endfor %}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tpl.Render(&Record{Kind: KindChat, Messages: convs["single"]}, Specials{}); err == nil || !strings.Contains(err.Error(), "not a prefix") {
		t.Errorf("prefix-inconsistent template: error = %v", err)
	}
}

// TestBuiltinsMatchHFTemplates: the built-in chatml, llama-2 and llama-3
// templates render exactly what the Hugging Face templates render.
func TestBuiltinsMatchHFTemplates(t *testing.T) {
	cases, convs, specials := goldenData(t)
	pairs := map[string]string{"chatml": TemplateChatML, "llama2": TemplateLlama2, "llama3": TemplateLlama3}
	checked := 0
	for _, c := range cases {
		builtin, ok := pairs[c.Template]
		// the built-ins refuse conversations without an assistant turn
		if !ok || c.AddGenerationPrompt || c.Error != "" || !hasAssistant(convs[c.Conversation]) {
			continue
		}
		tpl, err := TemplateByName(builtin, "")
		if err != nil {
			t.Fatal(err)
		}
		segs, err := tpl.Render(&Record{Kind: KindChat, Messages: convs[c.Conversation]}, specials[c.Template])
		if err != nil {
			t.Errorf("%s/%s: %v", builtin, c.Conversation, err)
			continue
		}
		var b strings.Builder
		for _, s := range segs {
			b.WriteString(s.Text)
		}
		if b.String() != c.Output {
			t.Errorf("%s/%s:\n got %q\nwant %q", builtin, c.Conversation, b.String(), c.Output)
		}
		checked++
	}
	if checked < 15 {
		t.Errorf("only %d comparisons", checked)
	}
}

func hasAssistant(msgs []Message) bool {
	for _, m := range msgs {
		if m.Role == RoleAssistant {
			return true
		}
	}
	return false
}

type builtinGolden struct {
	Records map[string]struct {
		Kind        string    `json:"kind"`
		Instruction string    `json:"instruction"`
		Input       string    `json:"input"`
		Output      string    `json:"output"`
		System      string    `json:"system"`
		Prompt      string    `json:"prompt"`
		Completion  string    `json:"completion"`
		Messages    []Message `json:"messages"`
	} `json:"records"`
	Cases []struct {
		Template string  `json:"template"`
		Record   string  `json:"record"`
		Segments [][]any `json:"segments"`
		Error    string  `json:"error"`
	} `json:"cases"`
}

// joinSegments merges adjacent segments of the same kind into "text|scored" strings.
func joinSegments(segs []Segment) []string {
	var out []string
	var texts []string
	var kinds []bool
	for _, s := range segs {
		if n := len(texts); n > 0 && kinds[n-1] == s.Scored {
			texts[n-1] += s.Text
			continue
		}
		texts = append(texts, s.Text)
		kinds = append(kinds, s.Scored)
	}
	for i := range texts {
		out = append(out, fmtSeg(texts[i], kinds[i]))
	}
	return out
}

func fmtSeg(text string, scored bool) string {
	if scored {
		return "+" + text
	}
	return "-" + text
}

func TestBuiltinTemplates(t *testing.T) {
	var g builtinGolden
	readJSON(t, "testdata/builtin_golden.json", &g)
	sp := Specials{BOS: 0, EOS: 1, BOSText: "<s>", EOSText: "</s>", AddBOS: true}
	kinds := map[string]Kind{"alpaca": KindAlpaca, "chat": KindChat, "prompt-completion": KindPromptCompletion}
	for _, c := range g.Cases {
		t.Run(c.Template+"/"+c.Record, func(t *testing.T) {
			r, ok := g.Records[c.Record]
			if !ok {
				t.Fatalf("no record %q", c.Record)
			}
			rec := &Record{Kind: kinds[r.Kind], Instruction: r.Instruction, Input: r.Input, Output: r.Output,
				System: r.System, Prompt: r.Prompt, Completion: r.Completion, Messages: r.Messages}
			tpl, err := TemplateByName(c.Template, "")
			if err != nil {
				t.Fatal(err)
			}
			segs, err := tpl.Render(rec, sp)
			if c.Error != "" {
				if err == nil || !strings.Contains(err.Error(), c.Error) {
					t.Fatalf("error = %v, want %q", err, c.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, s := range c.Segments {
				want = append(want, fmtSeg(s[0].(string), s[1].(bool)))
			}
			got := joinSegments(segs)
			if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
				t.Errorf("segments:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestResolveTemplate(t *testing.T) {
	qwen, err := os.ReadFile("testdata/templates/qwen2.jinja")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, chat string
		kind       Kind
		want       string
		warn, fail bool
	}{
		{"auto", "", KindChat, TemplateChatML, false, false},
		{"auto", "", KindAlpaca, TemplateAlpaca, false, false},
		{"auto", "", KindPromptCompletion, TemplateNone, false, false},
		{"", string(qwen), KindChat, TemplateModel, false, false},
		{"auto", string(qwen), KindAlpaca, TemplateModel, false, false},
		{"auto", string(qwen), KindPromptCompletion, TemplateNone, false, false},
		{"auto", "{% if %}", KindChat, TemplateChatML, true, false},
		{"model", "", KindChat, "", false, true},
		{"model", "{% if %}", KindChat, "", false, true},
		{"llama-3", "", KindChat, TemplateLlama3, false, false},
		{"vicuna", "", KindChat, "", false, true},
	}
	for _, tt := range tests {
		tpl, warning, err := ResolveTemplate(tt.name, tt.kind, tt.chat)
		if tt.fail {
			if err == nil {
				t.Errorf("%q %v: no error", tt.name, tt.kind)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q %v: %v", tt.name, tt.kind, err)
			continue
		}
		if tpl.Name() != tt.want || (warning != "") != tt.warn {
			t.Errorf("%q %v: got %s (warning %q), want %s (warning %v)", tt.name, tt.kind, tpl.Name(), warning, tt.want, tt.warn)
		}
	}
}
