package compute

import (
	"strings"
	"testing"
)

// TestView: a view shares its parent's storage at the right offset, for
// host data and for a device buffer (Dev and Off), and a range past the end
// panics with the shapes in the message.
func TestView(t *testing.T) {
	dev := new(int)
	p := &Tensor{Shape: []int{4, 5}, Data: make([]float32, 20), Dev: dev, Off: 3}
	v := p.View(6, 2, 3)
	if v.Rows() != 2 || v.Cols() != 3 || len(v.Data) != 6 || cap(v.Data) != 6 || v.Dev != dev || v.Off != 9 {
		t.Fatalf("View(6, 2, 3) = %v, len %d cap %d, Dev shared %v, Off %d", v, len(v.Data), cap(v.Data), v.Dev == dev, v.Off)
	}
	v.Data[0] = 7
	if p.Data[6] != 7 {
		t.Fatal("the view does not share its parent's data")
	}
	r := v.RowView(1, 1)
	if r.Off != 12 || len(r.Data) != 3 {
		t.Fatalf("RowView of a view: Off %d, %d values", r.Off, len(r.Data))
	}
	defer func() {
		if e := recover(); e == nil || !strings.Contains(e.(string), "out of range") {
			t.Fatalf("View past the end: %v", e)
		}
	}()
	p.View(15, 2, 3)
}

func TestStoredShape(t *testing.T) {
	w := &Weight{Out: 3, In: 5}
	if r, c := w.StoredShape(); r != 3 || c != 5 {
		t.Errorf("[Out, In] weight stored as %d×%d, want 3×5", r, c)
	}
	w.Transposed = true
	if r, c := w.StoredShape(); r != 5 || c != 3 {
		t.Errorf("transposed weight stored as %d×%d, want 5×3", r, c)
	}
}
