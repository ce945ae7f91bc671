package data

import (
	"fmt"
	"strings"
)

// Format names a dataset layout.
type Format string

// The dataset formats. FormatAuto detects the format from the file name and
// the keys of the first record.
const (
	FormatAuto             Format = "auto"
	FormatText             Format = "text"              // plain text documents (.txt)
	FormatJSONLText        Format = "jsonl-text"        // {"text"} records, JSON array or JSONL
	FormatPromptCompletion Format = "prompt-completion" // {"prompt","completion"}
	FormatAlpaca           Format = "alpaca"            // {"instruction","input","output"[,"system"]}
	FormatChat             Format = "chat"              // {"messages":[{"role","content"}]}
	FormatShareGPT         Format = "sharegpt"          // {"conversations":[{"from","value"}]}
	FormatCSV              Format = "csv"               // CSV (or TSV) with a header row
)

// Formats lists the formats a user may choose, FormatAuto first.
var Formats = []Format{FormatAuto, FormatText, FormatJSONLText, FormatPromptCompletion,
	FormatAlpaca, FormatChat, FormatShareGPT, FormatCSV}

// ParseFormat checks a format name; "" means FormatAuto.
func ParseFormat(s string) (Format, error) {
	if s == "" {
		return FormatAuto, nil
	}
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("unknown dataset format %q (want one of %s)", s, strings.Join(names, ", "))
}

// Kind is what a record holds once read, whatever its file format.
type Kind int

// The record kinds.
const (
	KindText             Kind = iota + 1 // Text: scored as a whole
	KindPromptCompletion                 // Prompt, Completion
	KindAlpaca                           // Instruction, Input, Output, System
	KindChat                             // Messages
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindText:
		return "text"
	case KindPromptCompletion:
		return "prompt-completion"
	case KindAlpaca:
		return "alpaca"
	case KindChat:
		return "chat"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// The chat roles.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"`    // RoleSystem, RoleUser or RoleAssistant
	Content string `json:"content"` // the text
}

// Record is one dataset entry as read from a file.
type Record struct {
	// Source is the file the record came from.
	Source string
	// Line is the 1-based line where the record starts.
	Line int
	// Kind says which of the fields below are set.
	Kind Kind

	Text string // KindText

	Prompt, Completion string // KindPromptCompletion

	Instruction, Input, Output, System string // KindAlpaca

	Messages []Message // KindChat
}

// Conversation returns the record as chat messages: alpaca becomes an
// optional system message, a user message holding the instruction and the
// input joined by a newline, and an assistant message holding the output;
// prompt/completion becomes one user and one assistant message. Text records
// have no conversation (nil).
func (r *Record) Conversation() []Message {
	switch r.Kind {
	case KindChat:
		return r.Messages
	case KindPromptCompletion:
		return []Message{{RoleUser, r.Prompt}, {RoleAssistant, r.Completion}}
	case KindAlpaca:
		var m []Message
		if r.System != "" {
			m = append(m, Message{RoleSystem, r.System})
		}
		user := r.Instruction
		if r.Input != "" {
			user += "\n" + r.Input
		}
		return append(m, Message{RoleUser, user}, Message{RoleAssistant, r.Output})
	}
	return nil
}

// RecordError is a problem with one record: where it is and what was wrong.
type RecordError struct {
	File  string // the dataset file
	Line  int    // 1-based line of the record (0 when unknown)
	Field string // the field at fault, e.g. "output" or "messages[2].content" (may be empty)
	Msg   string // what was wrong
}

// Error formats the error as "file:line: field: message".
func (e *RecordError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	b.WriteString(e.Msg)
	return b.String()
}
