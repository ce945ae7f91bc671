package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadErrors checks that every defect gives an error naming the file and
// the problem, and no panic.
func TestLoadErrors(t *testing.T) {
	mutate := func(old, repl string) string {
		if !strings.Contains(tinyJSON, old) {
			t.Fatalf("tinyJSON has no %q", old)
		}
		return strings.Replace(tinyJSON, old, repl, 1)
	}
	for _, tc := range []struct {
		name      string
		tokenizer string // content of tokenizer.json; "" writes none
		config    string // content of tokenizer_config.json; "" writes none
		badFile   string // the file the error must name
		want      []string
	}{
		{"missing tokenizer.json", "", "", TokenizerFile, []string{"no such file"}},
		{"truncated JSON", tinyJSON[:200], "", TokenizerFile, []string{"invalid JSON", "line 5"}},
		{"not JSON", "vocab: 1", "", TokenizerFile, []string{"invalid JSON at line 1, column 1"}},
		{"wrong JSON type", mutate(`"vocab": {`, `"vocab": [1], "x": {`), "", TokenizerFile,
			[]string{"invalid JSON at line 21, column 14", "vocab is a JSON array"}},
		{"Unigram model", mutate(`"type": "BPE"`, `"type": "Unigram"`), "", TokenizerFile,
			[]string{`unsupported model type "Unigram"`, "supported: BPE"}},
		{"WordPiece model", mutate(`"type": "BPE"`, `"type": "WordPiece"`), "", TokenizerFile,
			[]string{`unsupported model type "WordPiece"`, "supported: BPE"}},
		{"no model", mutate(`"model": {`, `"modelx": {`), "", TokenizerFile, []string{`no "model" section`}},
		{"empty vocab", mutate(`"vocab": {`, `"vocab": {}, "x": {`), "", TokenizerFile, []string{"model.vocab is missing or empty"}},
		{"negative id", mutate(`"cd": 11`, `"cd": -11`), "", TokenizerFile, []string{`token "cd" has id -11`}},
		{"merge with unknown token", mutate(`"c d"]`, `"c z"]`), "", TokenizerFile,
			[]string{"model.merges[3]", `token "z" is not in the vocab`}},
		{"merge result unknown", mutate(`"c d"]`, `"d c"]`), "", TokenizerFile,
			[]string{"model.merges[3]", `merged token "dc" is not in the vocab`}},
		{"malformed merge", mutate(`"c d"]`, `"c d e"]`), "", TokenizerFile,
			[]string{"model.merges[3]", "not two tokens"}},
		{"merge of wrong type", mutate(`"c d"]`, `7]`), "", TokenizerFile, []string{"model.merges[3] is 7"}},
		{"unk token not in vocab", mutate(`"unk_token": null`, `"unk_token": "<unk>"`), "", TokenizerFile,
			[]string{`model.unk_token "<unk>" is not in the vocab`}},
		{"added token without id", mutate(`{"id": 12, `, `{`), "", TokenizerFile, []string{`added_tokens[2] ("<tool>") has no id`}},
		{"unsupported pre-tokenizer", mutate(`"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}`,
			`"type": "Punctuation"}`), "", TokenizerFile, []string{`pre_tokenizer: unsupported pre-tokenizer type "Punctuation"`}},
		{"unsupported normalizer", mutate(`"normalizer": null`, `"normalizer": {"type": "Sequence", "normalizers": [{"type": "BertNormalizer"}]}`),
			"", TokenizerFile, []string{`normalizer.normalizers[0]: unsupported normalizer type "BertNormalizer"`}},
		{"unsupported decoder", mutate(`"decoder": {"type": "ByteLevel"`, `"decoder": {"type": "WordPiece"`), "", TokenizerFile,
			[]string{`decoder: unsupported decoder type "WordPiece"`}},
		{"unsupported split regex", mutate(`"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}`,
			`"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\s+(?!\\S)"}, "behavior": "Isolated"}`), "", TokenizerFile,
			[]string{"Split regex", `(?!`, "not supported"}},
		{"bad split behavior", mutate(`"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}`,
			`"pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"}`), "", TokenizerFile,
			[]string{`Split behavior "Sideways"`}},
		{"ByteLevel not last", mutate(`"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}`,
			`"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "Digits"}]}`), "", TokenizerFile,
			[]string{"pre_tokenizer.pretokenizers[0]", "ByteLevel pre-tokenizer followed by others"}},
		{"template names unknown token", mutate(`{"SpecialToken": {"id": "</s>", "type_id": 0}}]`, `{"SpecialToken": {"id": "<eos>", "type_id": 0}}]`),
			"", TokenizerFile, []string{`post_processor: special token "<eos>" of single[2] is not in the vocab`}},
		{"config not JSON", tinyJSON, `{"add_bos_token": tru}`, ConfigFile, []string{"invalid JSON at line 1"}},
		{"config bos of wrong type", tinyJSON, `{"bos_token": 5}`, ConfigFile, []string{"bos_token", "want a string"}},
		{"config add_bos of wrong type", tinyJSON, `{"add_bos_token": "yes"}`, ConfigFile, []string{"add_bos_token", "want bool"}},
		{"config chat_template of wrong type", tinyJSON, `{"chat_template": 3}`, ConfigFile, []string{"chat_template", "want a string"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.tokenizer != "" {
				write(t, filepath.Join(dir, TokenizerFile), tc.tokenizer)
			}
			if tc.config != "" {
				write(t, filepath.Join(dir, ConfigFile), tc.config)
			}
			tok, err := Load(dir)
			if err == nil {
				t.Fatalf("Load succeeded (vocab %d), want an error", tok.VocabSize())
			}
			msg := err.Error()
			if !strings.Contains(msg, filepath.Join(dir, tc.badFile)) {
				t.Errorf("error %q does not name %s", msg, tc.badFile)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			// FromJSON names the files by their usual names.
			if tc.tokenizer != "" {
				var cfg []byte
				if tc.config != "" {
					cfg = []byte(tc.config)
				}
				_, err := FromJSON([]byte(tc.tokenizer), cfg)
				if err == nil || !strings.Contains(err.Error(), tc.badFile) {
					t.Errorf("FromJSON error %v does not name %s", err, tc.badFile)
				}
			}
		})
	}
}

func TestLoadFilesErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	write(t, good, tinyJSON)
	missingCfg := filepath.Join(dir, "missing_config.json")
	if _, err := LoadFiles(good, missingCfg); err == nil || !strings.Contains(err.Error(), missingCfg) {
		t.Errorf("LoadFiles with a missing config: %v, want an error naming it", err)
	}
	if _, err := LoadFiles(good, ""); err != nil {
		t.Errorf("LoadFiles without config: %v", err)
	}
	// An unreadable (directory) tokenizer_config.json is an error, not "absent".
	if err := os.Mkdir(filepath.Join(dir, ConfigFile), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, TokenizerFile), tinyJSON)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), ConfigFile) {
		t.Errorf("Load with a directory as config: %v, want an error naming %s", err, ConfigFile)
	}
}
