package data

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// summary writes a record as "line kind: fields" for comparisons.
func summary(r Record) string {
	switch r.Kind {
	case KindText:
		return fmt.Sprintf("%d text: %q", r.Line, r.Text)
	case KindPromptCompletion:
		return fmt.Sprintf("%d pc: %q -> %q", r.Line, r.Prompt, r.Completion)
	case KindAlpaca:
		return fmt.Sprintf("%d alpaca: %q %q %q %q", r.Line, r.System, r.Instruction, r.Input, r.Output)
	case KindChat:
		var parts []string
		for _, m := range r.Messages {
			parts = append(parts, m.Role+"="+m.Content)
		}
		return fmt.Sprintf("%d chat: %s", r.Line, strings.Join(parts, " | "))
	}
	return "?"
}

func TestReadFormats(t *testing.T) {
	tests := []struct {
		name, file, data string
		opt              ReadOptions
		format           Format
		want             []string
	}{
		{"endoftext", "a.txt", "\nOnce.\nTwo.\n<|endoftext|>\nThree.\n<|endoftext|>\n<|endoftext|>\n", ReadOptions{}, FormatText,
			[]string{`2 text: "Once.\nTwo."`, `5 text: "Three."`}},
		{"blank lines", "a.txt", "a\r\nb\r\n\r\n\r\nc\n", ReadOptions{}, FormatText,
			[]string{`1 text: "a\nb"`, `5 text: "c"`}},
		{"per line", "a.txt", "a\n\nb\n", ReadOptions{TextSplit: SplitLine}, FormatText,
			[]string{`1 text: "a"`, `3 text: "b"`}},
		{"whole file", "a.md", "a\n\nb\n\n", ReadOptions{TextSplit: SplitNone}, FormatText,
			[]string{`1 text: "a\n\nb"`}},
		{"unknown extension is text", "notes", "hello\n", ReadOptions{}, FormatText,
			[]string{`1 text: "hello"`}},
		{"jsonl text", "a.jsonl", "{\"text\": \"x\"}\n\n{\"text\": \"y\", \"extra\": 1}\n", ReadOptions{}, FormatJSONLText,
			[]string{`1 text: "x"`, `3 text: "y"`}},
		{"json array text", "a.json", "[\n  {\"text\": \"x\"},\n  {\n    \"text\": \"y\"\n  }\n]\n", ReadOptions{}, FormatJSONLText,
			[]string{`2 text: "x"`, `3 text: "y"`}},
		{"prompt completion", "a.jsonl", `{"prompt": "Q: 1+1?", "completion": " 2"}`, ReadOptions{}, FormatPromptCompletion,
			[]string{`1 pc: "Q: 1+1?" -> " 2"`}},
		{"alpaca", "a.json", "[{\"instruction\": \"i\", \"input\": \"\", \"output\": \"o\"},\n{\"instruction\": \"i2\", \"input\": null, \"output\": \"o2\", \"system\": \"s\"}]",
			ReadOptions{}, FormatAlpaca,
			[]string{`1 alpaca: "" "i" "" "o"`, `2 alpaca: "s" "i2" "" "o2"`}},
		{"chat", "a.jsonl", `{"messages": [{"role": "system", "content": ""}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}`,
			ReadOptions{}, FormatChat, []string{`1 chat: system= | user=hi | assistant=yo`}},
		{"sharegpt", "a.json", `[{"system": "be nice", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}]`,
			ReadOptions{}, FormatShareGPT, []string{`1 chat: system=be nice | user=hi | assistant=yo`}},
		{"csv text", "a.csv", "id,text\n1,\"multi\nline\"\n2,plain\n", ReadOptions{}, FormatCSV,
			[]string{`2 text: "multi\nline"`, `4 text: "plain"`}},
		{"csv prompt completion", "a.csv", "question,answer\nq1,a1\n", ReadOptions{PromptColumn: "question", CompletionColumn: "answer"}, FormatCSV,
			[]string{`2 pc: "q1" -> "a1"`}},
		{"csv chosen text column", "a.csv", "question,answer\nq1,a1\n", ReadOptions{TextColumn: "answer"}, FormatCSV,
			[]string{`2 text: "a1"`}},
		{"csv alpaca", "a.csv", "instruction,input,output\ni,in,o\n", ReadOptions{}, FormatCSV,
			[]string{`2 alpaca: "" "i" "in" "o"`}},
		{"tsv", "a.tsv", "prompt\tcompletion\np\tc\n", ReadOptions{}, FormatCSV,
			[]string{`2 pc: "p" -> "c"`}},
		{"forced format", "a.data", `{"instruction": "i", "output": "o"}`, ReadOptions{Format: FormatAlpaca}, FormatAlpaca,
			[]string{`1 alpaca: "" "i" "" "o"`}},
		{"forced text", "a.json", `{"text": "x"}`, ReadOptions{Format: FormatText}, FormatText,
			[]string{`1 text: "{\"text\": \"x\"}"`}},
		{"byte order mark", "a.jsonl", "\xef\xbb\xbf{\"text\": \"x\"}\n", ReadOptions{}, FormatJSONLText,
			[]string{`1 text: "x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Read(tt.file, []byte(tt.data), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if res.Format != tt.format {
				t.Errorf("format = %s, want %s", res.Format, tt.format)
			}
			var got []string
			for _, r := range res.Records {
				got = append(got, summary(r))
				if r.Source != tt.file {
					t.Errorf("source = %q", r.Source)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	alpacaArray := `[
  {"instruction": "a", "input": "", "output": "x"},
  {
    "instruction": "b",
    "input": ""
  },
  {"instruction": "c", "output": 5},
  {"instruction": "  ", "output": "y"},
  "not an object"
]`
	tests := []struct {
		name, file, data string
		opt              ReadOptions
		line             int
		field, msg       string
	}{
		{"jsonl invalid", "a.jsonl", "{\"text\": \"x\"}\n{\"text\": \"y\"\n{\"text\": \"z\"}\n", ReadOptions{}, 2, "", "invalid JSON"},
		{"array missing field", "a.json", alpacaArray, ReadOptions{}, 3, "output", "missing"},
		{"array wrong type", "a.json", strings.Replace(alpacaArray, `"input": ""`+"\n", `"input": "", "output": "ok"`+"\n", 1), ReadOptions{}, 7, "output", "want a string, got a number"},
		{"array syntax error", "a.json", "[\n  {\"text\": \"x\"},\n  {\"text\": \"y\",}\n]\n", ReadOptions{}, 3, "", "invalid JSON"},
		{"array truncated", "a.json", "[\n  {\"text\": \"x\"},\n  {\"text\": \"y\"", ReadOptions{}, 3, "", "unexpected end"},
		{"array trailing data", "a.json", "[{\"text\": \"x\"}]\n[]", ReadOptions{}, 2, "", "after the closing ]"},
		{"empty text", "a.jsonl", "{\"text\": \"x\"}\n{\"text\": \" \\n \"}\n", ReadOptions{}, 2, "text", "empty text"},
		{"null", "a.jsonl", `{"prompt": "p", "completion": null}`, ReadOptions{}, 1, "completion", "want a string, got null"},
		{"not an object", "a.jsonl", "{\"text\": \"x\"}\n[1]\n", ReadOptions{}, 2, "", "want a JSON object, got an array"},
		{"chat null content", "a.jsonl", `{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": null}]}`, ReadOptions{}, 1, "messages[1].content", "got null"},
		{"chat bad role", "a.jsonl", "\n\n" + `{"messages": [{"role": "tool", "content": "x"}]}`, ReadOptions{}, 3, "messages[0].role", `unsupported role "tool"`},
		{"chat no assistant", "a.jsonl", `{"messages": [{"role": "user", "content": "hi"}]}`, ReadOptions{}, 1, "messages", "no assistant message"},
		{"chat not a list", "a.jsonl", `{"messages": "hi"}`, ReadOptions{}, 1, "messages", "want an array of messages, got a string"},
		{"chat empty", "a.jsonl", `{"messages": []}`, ReadOptions{}, 1, "messages", "empty conversation"},
		{"sharegpt bad from", "a.jsonl", `{"conversations": [{"from": "bot", "value": "x"}]}`, ReadOptions{}, 1, "conversations[0].from", `unsupported role "bot"`},
		{"sharegpt message not an object", "a.jsonl", `{"conversations": [3]}`, ReadOptions{}, 1, "conversations[0]", "want a message object, got a number"},
		{"unknown keys", "a.jsonl", `{"question": "q", "answer": "a"}`, ReadOptions{}, 1, "", "cannot tell the format from the keys [answer question]"},
		{"forced format missing field", "a.jsonl", `{"text": "x"}`, ReadOptions{Format: FormatChat}, 1, "messages", "missing (the record has [text])"},
		{"one object over lines", "a.json", "{\n \"text\": \"x\"\n}\n", ReadOptions{}, 1, "", "one JSON value spread over lines"},
		{"not json", "a.json", "hello", ReadOptions{}, 1, "", "not JSON"},
		{"csv field count", "a.csv", "prompt,completion\np,c\np2\n", ReadOptions{}, 3, "", "want 2 fields"},
		{"csv empty text", "a.csv", "text\nx\n\"\"\n", ReadOptions{}, 3, "text", "empty text"},
		{"csv bad quote", "a.csv", "text\nx\n\"a\"b\n", ReadOptions{}, 3, "", "invalid CSV"},
		{"csv no usable column", "a.csv", "a,b\n1,2\n", ReadOptions{}, 1, "", "cannot tell which CSV columns"},
		{"csv missing column", "a.csv", "a,b\n1,2\n", ReadOptions{TextColumn: "c"}, 1, "", `no column "c"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(tt.file, []byte(tt.data), tt.opt)
			var re *RecordError
			if !errors.As(err, &re) {
				t.Fatalf("error = %v (%T), want a *RecordError", err, err)
			}
			if re.File != tt.file || re.Line != tt.line || re.Field != tt.field || !strings.Contains(re.Msg, tt.msg) {
				t.Errorf("error = %q (line %d, field %q), want line %d, field %q, message containing %q",
					err, re.Line, re.Field, tt.line, tt.field, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("%s:%d: ", tt.file, tt.line)) {
				t.Errorf("error %q does not start with file:line", err)
			}
		})
	}
}

func TestReadSkipBad(t *testing.T) {
	data := strings.Join([]string{
		`{"instruction": "a", "output": "x"}`,
		`{"instruction": "b"}`,
		`not json`,
		``,
		`{"instruction": "c", "output": ["x"]}`,
		`{"instruction": "d", "output": "y"}`,
	}, "\n")
	res, err := Read("d.jsonl", []byte(data), ReadOptions{SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, r := range res.Records {
		lines = append(lines, r.Line)
	}
	var bad []string
	for _, b := range res.Bad {
		bad = append(bad, b.Error())
	}
	if fmt.Sprint(lines) != "[1 6]" {
		t.Errorf("good lines = %v, want [1 6]", lines)
	}
	want := []string{
		`d.jsonl:2: field "output": missing (the record has [instruction])`,
		`d.jsonl:3: invalid JSON: invalid character 'o' in literal null (expecting 'u')`,
		`d.jsonl:5: field "output": want a string, got an array`,
	}
	if strings.Join(bad, "\n") != strings.Join(want, "\n") {
		t.Errorf("bad:\n%s\nwant:\n%s", strings.Join(bad, "\n"), strings.Join(want, "\n"))
	}
	// CSV rows: a short row and an empty completion are skipped, the rest read
	res, err = Read("d.csv", []byte("prompt,completion\np1,c1\np2\np3,\np4,\"c\n4\"\np5,c5\n"), ReadOptions{SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	lines = nil
	for _, r := range res.Records {
		lines = append(lines, r.Line)
	}
	bad = nil
	for _, b := range res.Bad {
		bad = append(bad, b.Error())
	}
	if fmt.Sprint(lines) != "[2 5 7]" || strings.Join(bad, "\n") != "d.csv:3: want 2 fields like the header, got 1\nd.csv:4: field \"completion\": empty text" {
		t.Errorf("csv: good lines %v, bad %q", lines, bad)
	}
	// a file of nothing but bad records is an error
	if _, err := Read("d.jsonl", []byte(`{"text": ""}`), ReadOptions{SkipBad: true}); err == nil || !strings.Contains(err.Error(), "no good records") {
		t.Errorf("all bad: error = %v", err)
	}
	if _, err := Read("e.jsonl", []byte("\n\n"), ReadOptions{}); err == nil {
		t.Error("empty file: no error")
	}
	if _, err := Read("e.jsonl", []byte("{}"), ReadOptions{Format: "yaml"}); err == nil || !strings.Contains(err.Error(), "unknown dataset format") {
		t.Errorf("unknown format: error = %v", err)
	}
}
