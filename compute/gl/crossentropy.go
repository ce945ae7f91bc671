//go:build cgo && linux

package gl

import (
	"fmt"

	"github.com/fynetune/fynetune/compute"
)

// ceWorkGroup is the cross-entropy kernel's work-group size (invocations
// per row) on a GPU, ceWorkGroupSoft on a software renderer, where fewer
// invocations per row run faster. Any power of two up to 1024 gives the
// same sums: see crossentropy.glsl for why it was once held at 32.
const (
	ceWorkGroup     = 256
	ceWorkGroupSoft = 32
)

// CrossEntropy scores each row of logits[N, V] whose target is >= 0 with
// -log softmax(row)[target], returning the sum of the scores (the row
// losses of the GPU added in float64, in row order) and their count. When
// dlogits is not nil it receives scale·(softmax - onehot) on scored rows and
// 0 on the others; dlogits may be logits itself.
func (b *Backend) CrossEntropy(dlogits, logits *compute.Tensor, targets []int32, scale float32) (sum float64, count int) {
	const op = "CrossEntropy"
	ld := b.dev(op, "logits", logits)
	n, v := logits.Rows(), logits.Cols()
	if len(targets) != n {
		panic(fmt.Sprintf("gl: %s: %d targets for logits %v (%d rows)", op, len(targets), logits, n))
	}
	dd := b.optDev(op, "dlogits", dlogits)
	if dd != nil {
		mustShape(op, "dlogits", dlogits, n, v)
	}
	for i, tg := range targets {
		if int(tg) >= v {
			panic(fmt.Sprintf("gl: %s: target %d of row %d is outside the vocabulary [0, %d)", op, tg, i, v))
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
			panic(fmt.Sprintf("gl: %s: logits %v have no columns", op, logits))
		}
		return 0, 0
	}
	tg := append([]int32(nil), targets...)
	b.do(func() {
		tid := b.uploadInts("ce_targets", tg)
		lossID := b.scratchBuffer("ce_loss", 4*n)
		defs := []string{fmt.Sprintf("WG=%d", b.ceWG)}
		u := args{"N": n, "V": v, "offL": logits.Off, "scale": scale}
		did := ld.id
		if dd != nil {
			defs = append(defs, "HAS_D")
			u["offD"], did = dlogits.Off, dd.id
		}
		gx, gy := b.rowGrid(n)
		b.dispatch(b.program("crossentropy.glsl", defs...), gx, gy, 1, u, ld.id, did, tid, lossID)
		for i, l := range readFloats(lossID, n) {
			if tg[i] >= 0 {
				sum += float64(l)
			}
		}
	})
	return sum, count
}
