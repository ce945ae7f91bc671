package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInspectDatasetBadRecords(t *testing.T) {
	d := extractDemo(t)
	dir := t.TempDir()
	tests := []struct {
		name, body string
		wantErr    bool
		lines      []int
	}{
		{"some bad", "{\"prompt\":\"Q: a?\\nA:\",\"completion\":\" b\"}\nnot json\n{\"prompt\":\"Q: c?\\nA:\",\"completion\":\" d\"}\n{\"prompt\":\"x\"}\n{\"prompt\":\"Q: e?\\nA:\",\"completion\":\" f\"}\n", false, []int{2, 4}},
		{"all bad", "{oops\n[1,2\n", true, []int{1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".jsonl")
			os.WriteFile(p, []byte(tc.body), 0o644)
			cfg := d.Config
			cfg.ValidSplit = 0
			st, err := InspectDataset(p, d.Model, cfg, 3)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if st == nil {
				t.Fatal("no stats")
			}
			if got := st.BadLines(p); len(got) != len(tc.lines) || (len(got) > 0 && got[0] != tc.lines[0]) {
				t.Errorf("bad lines %v, want %v", got, tc.lines)
			}
		})
	}
	if _, err := InspectDataset(d.Data, "", d.Config, 1); err == nil || !strings.Contains(err.Error(), "open a model first") {
		t.Errorf("no model: %v", err)
	}
}
