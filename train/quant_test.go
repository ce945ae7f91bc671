package train_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/fynetune/fynetune/internal/testenv"
	"github.com/fynetune/fynetune/train"
)

// TestQuantizedLoss: the mean loss of stories260K on the TinyStories sample
// at 8 bits stays within 0.5% of 16 bits. At 4 bits NF4 costs this tiny
// model (64-wide rows: one block per row) about 6-9% — the goal of
// 5% is not met, see the README — and the bound here guards that figure.
func TestQuantizedLoss(t *testing.T) {
	loss := map[int]float64{}
	for _, bits := range []int{16, 8, 4} {
		c := smallRun(t, t.TempDir(), 1)
		c.Bits, c.SeqLen, c.Batch, c.ValidSplit = bits, 64, 4, 0.5
		j, err := train.NewJob(c, opts())
		if err != nil {
			t.Fatal(err)
		}
		j.Set.Detach(j.M) // the base model alone
		var ok bool
		if loss[bits], ok = j.Evaluate(context.Background(), 0); !ok {
			t.Fatal("no validation rows")
		}
		j.Close()
	}
	for bits, tol := range map[int]float64{8: 0.005, 4: 0.10} {
		if r := math.Abs(loss[bits]-loss[16]) / loss[16]; r > tol {
			t.Errorf("%d-bit loss %.4f is %.2f%% off the 16-bit %.4f (limit %.1f%%)", bits, loss[bits], 100*r, loss[16], 100*tol)
		}
	}
	t.Logf("mean loss: 16 bits %.4f, 8 bits %.4f, 4 bits %.4f", loss[16], loss[8], loss[4])
}

// TestQLoRALowersValidationLoss: LoRA on a 4-bit and an 8-bit base lowers the
// validation loss.
func TestQLoRALowersValidationLoss(t *testing.T) {
	for _, bits := range []int{4, 8} {
		c := train.DefaultConfig()
		c.Model = testenv.Fixture(t, "models", "stories260K")
		c.Data = testenv.Fixture(t, "datasets", "tinyshakespeare.txt")
		c.Out = t.TempDir()
		c.Bits, c.Steps, c.Batch, c.SeqLen, c.LR, c.Warmup = bits, 60, 4, 64, 3e-3, 5
		c.Targets = []string{"all-linear"}
		c.ValidSplit, c.EvalEvery, c.EvalBatches, c.Dropout = 0.02, 0, 10, 0
		j, err := train.NewJob(c, opts())
		if err != nil {
			t.Fatal(err)
		}
		before, _ := j.Evaluate(context.Background(), c.EvalBatches)
		res, err := j.Run(context.Background())
		j.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !(res.EvalLoss < before-0.2) {
			t.Errorf("%d bits: validation loss %.4f -> %.4f", bits, before, res.EvalLoss)
		}
		t.Logf("%d bits: validation loss %.4f -> %.4f", bits, before, res.EvalLoss)
	}
}

// TestAdapterBits: an adapter stored at 8 or 4 bits is smaller, loads back
// dequantized within the format's error, and f32 storage is exact.
func TestAdapterBits(t *testing.T) {
	m, params := loraModel(t, 4)
	set := &train.Adapters{Config: train.LoraConfig{Rank: 4, Alpha: 8, Targets: []string{"all-linear"}}}
	for _, l := range m.Linears() {
		set.Mods = append(set.Mods, l.Adapter.(*train.Lora))
	}
	sizes := map[int]int64{}
	for _, bits := range []int{0, 8, 4} {
		dir := t.TempDir()
		if err := train.SaveAdapterBits(dir, set, m, bits); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(filepath.Join(dir, train.AdapterWeightsFile))
		sizes[bits] = st.Size()
		m2, _ := loraModel(t, 99) // other weights, to be replaced
		set.Detach(m2)
		got, err := train.LoadAdapter(dir, m2)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range got.Params() {
			e := relErr(p.Value.Data, params[i].Value.Data)
			lim := map[int]float64{0: 0, 8: 0.01, 4: 0.15}[bits]
			if e > lim {
				t.Errorf("%d bits: %s off by %.3g relative (limit %g)", bits, p.Name, e, lim)
			}
		}
	}
	if !(sizes[4] < sizes[8] && sizes[8] < sizes[0]/2) { // headers and scales keep 8-bit above a quarter
		t.Errorf("adapter file sizes f32 %d, 8-bit %d, 4-bit %d", sizes[0], sizes[8], sizes[4])
	}
}
