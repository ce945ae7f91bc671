package tokenizer

import (
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

const (
	// maxCachedWord is the longest word (in bytes) whose ids are cached,
	// as in the Hugging Face BPE model.
	maxCachedWord = 256
	// maxCacheEntries bounds the word cache; it is emptied when full.
	maxCacheEntries = 1 << 16
	// smallWord is the symbol count up to which BPE rescans an array
	// instead of using a priority queue.
	smallWord = 64
	// noMerge marks an adjacent pair that no merge joins.
	noMerge = ^uint64(0)
)

// bpeModel is the "model" part of tokenizer.json for type BPE.
type bpeModel struct {
	vocab map[string]int // model vocabulary only (no added tokens)

	// merges maps the pair (left id, right id), packed as left<<32|right,
	// to rank<<32|merged id. Comparing packed values orders by rank.
	merges    map[uint64]uint64
	mergeList [][2]string // the merges in rank order, handed to the Tokenizer

	byteLevel  bool       // map every byte through bytesToUnicode first
	byteCharID [256]int32 // byte-level: id of the one-character token of a byte

	asciiID [128]int32     // id of one-character tokens below 0x80, -1 none
	charID  map[rune]int32 // id of other one-character tokens

	byteFallback   bool
	byteFallbackID [256]int32 // id of <0xNN>, -1 none

	unkID        int32 // -1 none
	fuseUnk      bool
	ignoreMerges bool
	contPrefix   string // continuing_subword_prefix
	endSuffix    string // end_of_word_suffix

	pool sync.Pool // *bpeWork

	cacheMu sync.Mutex
	cache   map[string][]int
}

// bpeWork is scratch space for one word.
type bpeWork struct {
	syms  []int32
	ranks []uint64
	prev  []int32
	next  []int32
	heap  []uint64
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// lookupPair returns rank<<32|merged id for an adjacent pair, or noMerge.
func (m *bpeModel) lookupPair(a, b int32) uint64 {
	if v, ok := m.merges[pairKey(a, b)]; ok {
		return v
	}
	return noMerge
}

// encodeWord appends the ids of one pre-tokenized word.
func (m *bpeModel) encodeWord(ids []int, w string) []int {
	cacheable := len(w) <= maxCachedWord
	if cacheable {
		m.cacheMu.Lock()
		c, ok := m.cache[w]
		m.cacheMu.Unlock()
		if ok {
			return append(ids, c...)
		}
	}
	start := len(ids)
	ids = m.tokenizeWord(ids, w)
	if cacheable {
		key, val := strings.Clone(w), slices.Clone(ids[start:])
		m.cacheMu.Lock()
		if len(m.cache) >= maxCacheEntries {
			clear(m.cache)
		}
		m.cache[key] = val
		m.cacheMu.Unlock()
	}
	return ids
}

// tokenizeWord runs BPE over one word without the cache.
func (m *bpeModel) tokenizeWord(ids []int, w string) []int {
	if m.ignoreMerges {
		key := w
		if m.byteLevel {
			key = byteLevelString(w)
		}
		if id, ok := m.vocab[key]; ok {
			return append(ids, id)
		}
	}
	ws, _ := m.pool.Get().(*bpeWork)
	if ws == nil {
		ws = new(bpeWork)
	}
	syms := m.initialSymbols(w, ws.syms[:0])
	if len(syms) <= smallWord {
		syms = m.mergeSmall(syms, ws)
		for _, s := range syms {
			ids = append(ids, int(s))
		}
	} else {
		ids = m.mergeHeap(ids, syms, ws)
	}
	ws.syms = syms[:0]
	m.pool.Put(ws)
	return ids
}

// initialSymbols splits a word into the ids of its characters (its bytes for
// byte-level BPE), with byte fallback and unknown-token handling.
func (m *bpeModel) initialSymbols(w string, syms []int32) []int32 {
	if m.contPrefix != "" || m.endSuffix != "" {
		return m.initialSymbolsAffixed(w, syms)
	}
	unkOpen := false
	if m.byteLevel {
		for i := 0; i < len(w); i++ {
			if id := m.byteCharID[w[i]]; id >= 0 {
				syms = append(syms, id)
				unkOpen = false
			} else {
				syms, unkOpen = m.unknown(syms, w[i:i+1], unkOpen)
			}
		}
		return syms
	}
	for i := 0; i < len(w); {
		c := w[i]
		if c < utf8.RuneSelf {
			if id := m.asciiID[c]; id >= 0 {
				syms = append(syms, id)
				unkOpen = false
			} else {
				syms, unkOpen = m.unknown(syms, w[i:i+1], unkOpen)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(w[i:])
		id, ok := m.charID[r]
		if ok && (r != utf8.RuneError || size > 1) {
			syms = append(syms, id)
			unkOpen = false
		} else {
			syms, unkOpen = m.unknown(syms, w[i:i+size], unkOpen)
		}
		i += size
	}
	return syms
}

// initialSymbolsAffixed is initialSymbols for models with a
// continuing_subword_prefix or end_of_word_suffix.
func (m *bpeModel) initialSymbolsAffixed(w string, syms []int32) []int32 {
	unkOpen := false
	for i := 0; i < len(w); {
		size := 1
		var ch string
		if m.byteLevel {
			ch = string(bytesToUnicode[w[i]])
		} else {
			_, size = utf8.DecodeRuneInString(w[i:])
			ch = w[i : i+size]
		}
		s := ch
		if i > 0 {
			s = m.contPrefix + s
		}
		if i+size == len(w) {
			s += m.endSuffix
		}
		if id, ok := m.vocab[s]; ok {
			syms = append(syms, int32(id))
			unkOpen = false
		} else {
			syms, unkOpen = m.unknown(syms, w[i:i+size], unkOpen)
		}
		i += size
	}
	return syms
}

// unknown handles one character that is not in the vocabulary: its UTF-8
// bytes as <0xNN> tokens when byte fallback is on and all of them exist,
// else the unknown token (fused with a preceding one when fuse_unk), else
// nothing, as the Hugging Face BPE model does.
func (m *bpeModel) unknown(syms []int32, ch string, unkOpen bool) ([]int32, bool) {
	if m.byteFallback {
		ok := true
		for i := 0; i < len(ch); i++ {
			if m.byteFallbackID[ch[i]] < 0 {
				ok = false
				break
			}
		}
		if ok {
			for i := 0; i < len(ch); i++ {
				syms = append(syms, m.byteFallbackID[ch[i]])
			}
			return syms, false
		}
	}
	if m.unkID < 0 {
		return syms, unkOpen
	}
	if m.fuseUnk && unkOpen {
		return syms, true
	}
	return append(syms, m.unkID), true
}

// mergeSmall applies merges to a short word by repeatedly joining the
// adjacent pair of lowest rank (leftmost on ties).
func (m *bpeModel) mergeSmall(syms []int32, ws *bpeWork) []int32 {
	if len(syms) < 2 {
		return syms
	}
	ranks := ws.ranks[:0]
	for i := 0; i+1 < len(syms); i++ {
		ranks = append(ranks, m.lookupPair(syms[i], syms[i+1]))
	}
	for {
		best, bi := noMerge, -1
		for i, r := range ranks {
			if r < best {
				best, bi = r, i
			}
		}
		if bi < 0 {
			break
		}
		syms[bi] = int32(uint32(best))
		copy(syms[bi+1:], syms[bi+2:])
		syms = syms[:len(syms)-1]
		copy(ranks[bi:], ranks[bi+1:])
		ranks = ranks[:len(ranks)-1]
		if bi > 0 {
			ranks[bi-1] = m.lookupPair(syms[bi-1], syms[bi])
		}
		if bi < len(ranks) {
			ranks[bi] = m.lookupPair(syms[bi], syms[bi+1])
		}
	}
	ws.ranks = ranks[:0]
	return syms
}

// mergeHeap applies merges to a long word with a priority queue of candidate
// pairs ordered by (rank, position) over a linked list of symbols, and
// appends the resulting ids.
func (m *bpeModel) mergeHeap(ids []int, syms []int32, ws *bpeWork) []int {
	n := len(syms)
	prev, next := grow32(ws.prev, n), grow32(ws.next, n)
	h := ws.heap[:0]
	for i := range n {
		prev[i] = int32(i - 1)
		next[i] = int32(i + 1)
	}
	next[n-1] = -1
	// A queue entry is rank<<32|position: smaller rank first, then the
	// leftmost position.
	for i := 0; i+1 < n; i++ {
		if v := m.lookupPair(syms[i], syms[i+1]); v != noMerge {
			h = heapPush(h, v&^0xffffffff|uint64(i))
		}
	}
	for len(h) > 0 {
		var top uint64
		top, h = heapPop(h)
		pos := int32(uint32(top))
		rank := top >> 32
		nx := next[pos]
		if syms[pos] < 0 || nx < 0 {
			continue
		}
		v := m.lookupPair(syms[pos], syms[nx])
		if v == noMerge || v>>32 != rank {
			continue // stale entry: one side was merged since
		}
		syms[pos] = int32(uint32(v))
		syms[nx] = -1
		nn := next[nx]
		next[pos] = nn
		if nn >= 0 {
			prev[nn] = pos
			if w := m.lookupPair(syms[pos], syms[nn]); w != noMerge {
				h = heapPush(h, w&^0xffffffff|uint64(pos))
			}
		}
		if p := prev[pos]; p >= 0 {
			if w := m.lookupPair(syms[p], syms[pos]); w != noMerge {
				h = heapPush(h, w&^0xffffffff|uint64(p))
			}
		}
	}
	for i := int32(0); i >= 0; i = next[i] {
		ids = append(ids, int(syms[i]))
	}
	ws.prev, ws.next, ws.heap = prev, next, h[:0]
	return ids
}

func grow32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

// heapPush and heapPop keep a binary min-heap of uint64.
func heapPush(h []uint64, v uint64) []uint64 {
	h = append(h, v)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p] <= v {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = v
	return h
}

func heapPop(h []uint64) (uint64, []uint64) {
	top := h[0]
	last := h[len(h)-1]
	h = h[:len(h)-1]
	n := len(h)
	if n == 0 {
		return top, h
	}
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h[c+1] < h[c] {
			c++
		}
		if last <= h[c] {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = last
	return top, h
}
