package data

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkLoadAlpaca loads the 999-record alpaca fixture with the real
// stories260K tokenizer (read, template, tokenize, mask, truncate).
func BenchmarkLoadAlpaca(b *testing.B) {
	dir := fixtures(b)
	tok := loadRealTok(b, "stories260K")
	cfg := Config{Path: filepath.Join(dir, "datasets", "alpaca_en_demo.json"), SeqLen: 512, Truncate: true,
		ReadOptions: ReadOptions{SkipBad: true}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(cfg, tok); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*999)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkLoadChatJinja renders the 500-record chat fixture through a real
// Jinja chat template (Qwen2's) with the GPT-2 tokenizer.
func BenchmarkLoadChatJinja(b *testing.B) {
	dir := fixtures(b)
	tok := loadRealTok(b, "gpt2-tiny-random")
	src, err := os.ReadFile("testdata/templates/qwen2.jinja")
	if err != nil {
		b.Fatal(err)
	}
	tok.template = string(src)
	cfg := Config{Path: filepath.Join(dir, "datasets", "chat_messages.jsonl"), SeqLen: 512, Truncate: true}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(cfg, tok); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkBatcherNext fills batches of 8 x 512 from shuffled examples.
func BenchmarkBatcherNext(b *testing.B) {
	exs := make([]Example, 1000)
	for i := range exs {
		n := 100 + i%412
		exs[i] = Example{IDs: make([]int32, n), Labels: make([]int32, n)}
	}
	bt, err := NewBatcher(exs, BatcherOptions{BatchSize: 8, SeqLen: 512, Shuffle: true, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	in, tg := make([]int32, 8*512), make([]int32, 8*512)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bt.Next(in, tg); err != nil {
			b.Fatal(err)
		}
	}
}
