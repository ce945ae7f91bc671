package cpu

import (
	"fmt"
	"math"

	"github.com/fynetune/fynetune/compute"
)

// CrossEntropy scores each row of logits[N, V] whose target is >= 0 with
// -log softmax(row)[target], returning the sum of the scores and their
// count. When dlogits is not nil it receives scale·(softmax - onehot) on
// scored rows and 0 on the others; dlogits may be logits itself.
func (b *Backend) CrossEntropy(dlogits, logits *compute.Tensor, targets []int32, scale float32) (sum float64, count int) {
	const op = "CrossEntropy"
	ld := data(op, "logits", logits)
	n, v := logits.Rows(), logits.Cols()
	if len(targets) != n {
		panic(fmt.Sprintf("cpu: %s: %d targets for logits %v (%d rows)", op, len(targets), logits, n))
	}
	var dd []float32
	if dlogits != nil {
		dd = data(op, "dlogits", dlogits)
		mustShape(op, "dlogits", dlogits, n, v)
	}
	for i, tg := range targets {
		if int(tg) >= v {
			panic(fmt.Sprintf("cpu: %s: target %d of row %d is outside the vocabulary [0, %d)", op, tg, i, v))
		}
		if tg >= 0 {
			count++
		}
	}
	if n == 0 {
		return 0, 0
	}
	if v == 0 {
		if count > 0 {
			panic(fmt.Sprintf("cpu: %s: logits %v have no columns", op, logits))
		}
		return 0, 0
	}
	t := &b.ceT
	*t = crossEntropyTask{logits: ld, dlogits: dd, targets: targets, losses: b.rowBuf(n), v: v, scale: float64(scale)}
	parts := b.pool.partsFor(n, v*elementwiseCost)
	if dd == nil {
		b.growScratch(parts, v)
	}
	t.scratch = b.scratch[:parts]
	b.pool.parallel(n, parts, t)
	// Sum the row losses in row order: the same total for any thread count.
	for i, l := range t.losses {
		if targets[i] >= 0 {
			sum += l
		}
	}
	*t = crossEntropyTask{}
	return sum, count
}

type crossEntropyTask struct {
	logits, dlogits []float32
	targets         []int32
	losses          []float64
	scratch         [][]float32 // per part: a row of exponentials when dlogits is nil
	v               int
	scale           float64
}

func (t *crossEntropyTask) run(part, lo, hi int) {
	v := t.v
	for i := lo; i < hi; i++ {
		tg := int(t.targets[i])
		x := t.logits[i*v : (i+1)*v]
		var d []float32
		if t.dlogits != nil {
			d = t.dlogits[i*v : (i+1)*v]
		}
		if tg < 0 {
			t.losses[i] = 0
			clear(d)
			continue
		}
		mx := maxF32(x)
		xt := float64(x[tg]) // read before d (which may alias x) is written
		e := d
		if e == nil {
			e = t.scratch[part][:v]
		}
		expShift(e, x, mx)
		s := sum64(e)
		lse := float64(mx) + math.Log(s)
		t.losses[i] = lse - xt
		if d != nil {
			// softmax_j = e_j/s
			scaleF32(d, float32(t.scale/s))
			d[tg] = float32((math.Exp(xt-lse) - 1) * t.scale)
		}
	}
}
