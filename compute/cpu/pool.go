package cpu

import (
	"sync"
	"sync/atomic"
)

// rangeTask is one parallel operation: run processes items [lo, hi), which
// form part number part (0 <= part < the number of parts of the pass). Parts
// are contiguous and fixed by the item count and the thread count, so a task
// that keeps per-part partial sums and reduces them in part order gives the
// same result every run.
type rangeTask interface {
	run(part, lo, hi int)
}

// minWork is the least work (in rough element-operations) worth a part of
// its own: below it, waking a worker costs more than it saves.
const minWork = 1 << 15

// pool is a fixed set of worker goroutines. One pass runs at a time.
type pool struct {
	threads int
	work    chan *pass
	started bool
	cur     pass
}

// pass is one parallel call: its parts are claimed by whoever is free.
type pass struct {
	task  rangeTask
	n     int
	parts int
	next  atomic.Int32
	wg    sync.WaitGroup
}

func newPool(threads int) *pool {
	return &pool{threads: threads, work: make(chan *pass, threads)}
}

// close stops the workers.
func (p *pool) close() {
	if p.started {
		close(p.work)
	}
}

// partsFor says how many parts a pass over n items of cost units each gets.
func (p *pool) partsFor(n, cost int) int {
	if n <= 1 || p.threads == 1 {
		return 1
	}
	parts := min(p.threads, n, max(n*max(cost, 1)/minWork, 1))
	return max(parts, 1)
}

// parallel runs task over items [0, n) in parts parts (see partsFor) and
// returns when all are done. With one part it runs on the calling goroutine.
func (p *pool) parallel(n, parts int, task rangeTask) {
	if n <= 0 {
		return
	}
	if parts <= 1 {
		task.run(0, 0, n)
		return
	}
	if !p.started {
		p.started = true
		for range p.threads - 1 {
			go worker(p.work)
		}
	}
	c := &p.cur
	c.task, c.n, c.parts = task, n, parts
	c.next.Store(0)
	helpers := min(parts, p.threads) - 1
	c.wg.Add(helpers)
	for range helpers {
		p.work <- c
	}
	c.drain()
	c.wg.Wait()
	c.task = nil
}

// drain runs parts of the pass until none is left.
func (c *pass) drain() {
	for {
		i := int(c.next.Add(1)) - 1
		if i >= c.parts {
			return
		}
		lo, hi := i*c.n/c.parts, (i+1)*c.n/c.parts
		if lo < hi {
			c.task.run(i, lo, hi)
		}
	}
}

func worker(work chan *pass) {
	for c := range work {
		c.drain()
		c.wg.Done()
	}
}
