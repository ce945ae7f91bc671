//go:build cgo && linux

package gl

import (
	"fmt"

	"github.com/fynetune/fynetune/compute"
)

// Embedding copies the rows of table for ids into out[len(ids), D].
func (b *Backend) Embedding(out *compute.Tensor, table *compute.Weight, ids []int32) {
	const op = "Embedding"
	wd := b.weightOf(op, table)
	od := b.dev(op, "out", out)
	v, d := table.Out, table.In
	mustShape(op, "out", out, len(ids), d)
	for i, id := range ids {
		if id < 0 || int(id) >= v {
			panic(fmt.Sprintf("gl: %s: table %q: id %d at position %d is outside [0, %d)", op, table.Name, id, i, v))
		}
	}
	b.gather(out, od, wd.buf.id, 0, v, d, table.Transposed, ids, wd)
}

// GatherRows copies rows src[rows[i]] into out[i]; out is [len(rows), C].
// EmbeddingBackward is its backward pass.
func (b *Backend) GatherRows(out, src *compute.Tensor, rows []int32) {
	const op = "GatherRows"
	od, sd := b.dev(op, "out", out), b.dev(op, "src", src)
	n, c := src.Rows(), src.Cols()
	mustShape(op, "out", out, len(rows), c)
	for i, r := range rows {
		if r < 0 || int(r) >= n {
			panic(fmt.Sprintf("gl: %s: row %d at position %d is outside [0, %d) of src %v", op, r, i, n, src))
		}
	}
	b.gather(out, od, sd.id, src.Off, n, c, false, rows, nil)
}

// gather copies rows ids of src (v rows of d, or stored [d, v] when trans;
// a packed weight when wd has a compact format) into out.
func (b *Backend) gather(out *compute.Tensor, od *buffer, src uint32, srcOff, v, d int, trans bool, ids []int32, wd *weightDev) {
	if len(ids) == 0 || d == 0 {
		return
	}
	ids = append([]int32(nil), ids...)
	b.post(func() {
		defs := []string{"GATHER"}
		if trans {
			defs = append(defs, "TRANS")
		}
		u := args{"n": len(ids), "D": d, "V": v, "offOut": out.Off, "offSrc": srcOff, "wOff": 0}
		if wd != nil && wd.defines != nil {
			defs = append(defs, wd.defines...)
			u["ldb"], u["nb"], u["scaleOff"] = d, wd.nb, wd.scaleOff
			if wd.dtype == compute.NF4 {
				u["nf4"] = nf4Codebook()
			}
		}
		p := b.program("embedding.glsl", defs...)
		groups := groups1D(len(ids)*d, 256)
		if wd == nil || wd.buf.bytes <= b.weightLimit {
			b.dispatch(p, groups, 1, 1, u, od.id, src, b.uploadInts("gather_ids", ids))
			return
		}
		// A table too large to bind whole: a range of its rows at a time,
		// each pass gathering the ids that fall in it (the others are -1).
		if trans || wd.elem == 0 || wd.rowBytes+b.ssboAlign > b.weightLimit {
			panic(fmt.Sprintf("gl: Embedding: a %v table of %d MiB (transposed=%v) is more than this driver binds to a shader (%d MiB)",
				wd.dtype, wd.buf.bytes>>20, trans, b.weightLimit>>20))
		}
		chunk := (b.weightLimit - b.ssboAlign) / wd.rowBytes
		part := make([]int32, len(ids))
		for r0 := 0; r0 < wd.rows; r0 += chunk {
			r1 := min(wd.rows, r0+chunk)
			any := false
			for i, id := range ids {
				part[i] = -1
				if int(id) >= r0 && int(id) < r1 {
					part[i], any = id-int32(r0), true
				}
			}
			if !any {
				continue
			}
			start := r0 * wd.rowBytes
			off := start / b.ssboAlign * b.ssboAlign
			if wd.defines != nil {
				u["wOff"] = (start - off) / wd.elem
			} else {
				u["offSrc"] = (start - off) / 4
			}
			b.dispatchB(p, groups, 1, 1, u, []bind{{id: od.id}, {src, off, r1*wd.rowBytes - off}, {id: b.uploadInts("gather_ids", part)}})
		}
	})
}

// EmbeddingBackward accumulates the rows of dout into dtable[V, D] at ids
// (it is also the backward pass of GatherRows). The positions of each
// distinct id are summed by one invocation per column, in order, so the
// result does not depend on scheduling and matches the CPU backend's.
func (b *Backend) EmbeddingBackward(dtable, dout *compute.Tensor, ids []int32) {
	const op = "EmbeddingBackward"
	td, dd := b.dev(op, "dtable", dtable), b.dev(op, "dout", dout)
	v, d := dtable.Rows(), dtable.Cols()
	mustShape(op, "dout", dout, len(ids), d)
	for i, id := range ids {
		if id < 0 || int(id) >= v {
			panic(fmt.Sprintf("gl: %s: id %d at position %d is outside [0, %d)", op, id, i, v))
		}
	}
	if len(ids) == 0 || d == 0 {
		return
	}
	// The positions grouped by id: uniq[u], positions pos[start[u]:start[u+1]].
	first := map[int32]int{}
	var uniq []int32
	var counts []int32
	for _, id := range ids {
		u, ok := first[id]
		if !ok {
			u = len(uniq)
			first[id] = u
			uniq = append(uniq, id)
			counts = append(counts, 0)
		}
		counts[u]++
	}
	start := make([]int32, len(uniq)+1)
	for u, c := range counts {
		start[u+1] = start[u] + c
	}
	pos := make([]int32, len(ids))
	fill := append([]int32(nil), start[:len(uniq)]...)
	for i, id := range ids {
		u := first[id]
		pos[fill[u]] = int32(i)
		fill[u]++
	}
	b.post(func() {
		ub, sb, pb := b.uploadInts("scatter_uniq", uniq), b.uploadInts("scatter_start", start), b.uploadInts("scatter_pos", pos)
		b.dispatch(b.program("embedding.glsl", "SCATTER_ADD"), groups1D(len(uniq)*d, 256), 1, 1,
			args{"U": len(uniq), "D": d, "offDst": dtable.Off, "offDOut": dout.Off}, td.id, dd.id, ub, sb, pb)
	})
}
