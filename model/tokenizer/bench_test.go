package tokenizer

import (
	"os"
	"testing"
)

// BenchmarkEncodeShakespeare encodes all of tinyshakespeare.txt per
// iteration and reports tokens/s on one goroutine. The word cache is warm
// after the first iteration, as it is when a data set is tokenized; the
// "cold" case empties it before every iteration. stories260K has no
// pre-tokenizer, so the whole file is one BPE word.
func BenchmarkEncodeShakespeare(b *testing.B) {
	data, err := os.ReadFile(fixture(b, "datasets/tinyshakespeare.txt"))
	if err != nil {
		b.Fatal(err)
	}
	text := string(data)
	for _, tc := range []struct {
		name string
		load func(testing.TB) *Tokenizer
		cold bool
	}{
		{"gpt2", gpt2, false},
		{"gpt2-cold", gpt2, true},
		{"stories260K", stories260K, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tok := tc.load(b)
			b.SetBytes(int64(len(text)))
			n := 0
			for b.Loop() {
				if tc.cold {
					b.StopTimer()
					tok.model.cacheMu.Lock()
					clear(tok.model.cache)
					tok.model.cacheMu.Unlock()
					b.StartTimer()
				}
				n += len(tok.Encode(text))
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkEncodeLines encodes tinyshakespeare.txt one line at a time, as
// a data loader tokenizing short records does.
func BenchmarkEncodeLines(b *testing.B) {
	data, err := os.ReadFile(fixture(b, "datasets/tinyshakespeare.txt"))
	if err != nil {
		b.Fatal(err)
	}
	var lines []string
	start := 0
	for i, c := range data {
		if c == '\n' {
			lines = append(lines, string(data[start:i+1]))
			start = i + 1
		}
	}
	for _, tc := range []struct {
		name string
		load func(testing.TB) *Tokenizer
	}{
		{"gpt2", gpt2},
		{"stories260K", stories260K},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tok := tc.load(b)
			b.SetBytes(int64(len(data)))
			n := 0
			for b.Loop() {
				for _, l := range lines {
					n += len(tok.Encode(l))
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkDecode decodes the GPT-2 ids of tinyshakespeare.txt.
func BenchmarkDecode(b *testing.B) {
	data, err := os.ReadFile(fixture(b, "datasets/tinyshakespeare.txt"))
	if err != nil {
		b.Fatal(err)
	}
	tok := gpt2(b)
	ids := tok.Encode(string(data))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		_ = tok.Decode(ids)
	}
	b.ReportMetric(float64(len(ids))*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkLoad loads the GPT-2 tokenizer (50257 tokens, 50000 merges).
func BenchmarkLoad(b *testing.B) {
	dir := fixture(b, "tokenizers/gpt2")
	for b.Loop() {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}
