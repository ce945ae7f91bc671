package app

import (
	"fmt"
	"reflect"
	"testing"
)

func TestRecentLists(t *testing.T) {
	s := NewSettings(nil)
	for i := range MaxRecent + 3 {
		s.AddRecentModel(fmt.Sprintf("/m/%d", i))
	}
	s.AddRecentModel("/m/5") // moves to the front
	s.AddRecentModel("")     // ignored
	s.AddRecentModel("a\nb") // ignored
	got := s.RecentModels()
	if len(got) != MaxRecent || got[0] != "/m/5" || got[1] != fmt.Sprintf("/m/%d", MaxRecent+2) {
		t.Fatalf("recent models %v", got)
	}
	seen := map[string]bool{}
	for _, g := range got {
		if seen[g] {
			t.Fatalf("%s twice in %v", g, got)
		}
		seen[g] = true
	}
	if len(s.RecentData()) != 0 {
		t.Error("datasets share the models' list")
	}
	s.AddRecentData("/d/x.jsonl")
	if !reflect.DeepEqual(s.RecentData(), []string{"/d/x.jsonl"}) {
		t.Errorf("recent data %v", s.RecentData())
	}
}

func TestSettingsPersistThroughStore(t *testing.T) {
	st := &MemStore{}
	s := NewSettings(st)
	if _, ok := s.Config(); ok {
		t.Error("a config before any was saved")
	}
	c, _ := s.Config()
	c.Rank, c.Targets, c.LR, c.Model = 32, []string{"q_proj", "o_proj"}, 3e-4, "/m/x"
	if err := s.SetConfig(c); err != nil {
		t.Fatal(err)
	}
	c.Bits = 4
	if err := s.SetConfig(c); err != nil {
		t.Fatal(err)
	}
	s.SetRunsDir("/runs")
	s.AddRecentModel("/m/x")

	again := NewSettings(st) // a new launch over the same store
	got, ok := again.Config()
	if !ok || !reflect.DeepEqual(got, c) {
		t.Errorf("config %+v, %v; want %+v", got, ok, c)
	}
	if got.Bits != 4 || again.RunsDir() != "/runs" || again.RecentModels()[0] != "/m/x" {
		t.Errorf("bits %d runs %q recent %v", got.Bits, again.RunsDir(), again.RecentModels())
	}
	st.SetString(keyConfig, "rank = [")
	if _, ok := again.Config(); ok {
		t.Error("a broken stored config read as valid")
	}
}
