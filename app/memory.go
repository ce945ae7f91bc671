package app

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/compute/quant"
	"github.com/fynetune/fynetune/model"
	"github.com/fynetune/fynetune/train"
)

// MemoryEstimate is what a training run will hold in memory, by part, in
// bytes. Total is their sum; Free is the memory the machine has available
// now (0 when unknown).
type MemoryEstimate struct {
	Bits        int   // frozen-weight width the estimate is for
	Weights     int64 // frozen weights: linear layers at Bits, the rest as stored
	Trainable   int64 // trainable parameters (LoRA A and B, or every weight in full training), f32
	Gradients   int64 // their gradients, f32
	Optimizer   int64 // optimizer state (AdamW: two moments; SGD: momentum when used)
	Activations int64 // what the forward pass keeps for the backward pass, and the backward scratch
	Logits      int64 // LM-head logits of one chunk of scored positions, with their gradients, beyond the backward scratch they share
	Total       int64
	Free        int64
}

// Fits reports whether the estimate is within the free memory (true when
// the free memory is unknown).
func (e MemoryEstimate) Fits() bool { return e.Free <= 0 || e.Total <= e.Free }

// String is a one-line summary, e.g. "≈ 1.2 GiB (weights 800.0 MiB, ...)".
func (e MemoryEstimate) String() string {
	s := fmt.Sprintf("≈ %s (weights %s, trainable+grads+optimizer %s, activations %s, logits %s)",
		FormatBytes(e.Total), FormatBytes(e.Weights), FormatBytes(e.Trainable+e.Gradients+e.Optimizer),
		FormatBytes(e.Activations), FormatBytes(e.Logits))
	if e.Free > 0 {
		s += fmt.Sprintf("; %s free", FormatBytes(e.Free))
	}
	return s
}

// WeightBytes is the size of a model's frozen weights at a bit-width (16,
// 8 or 4), as the engine holds them: at 16 the matrices keep the
// checkpoint's dtype (GPT-2's Conv1D matrices are widened to f32); at 8
// every matrix is int8 blockwise absmax (blocks of 64, scales included); at
// 4 the linear layers are NF4 (blocks of 64; the absmax values double
// quantized: about 0.52 bytes per value) and the embedding and head tables
// stay int8; norms and biases are f32. It uses compute/quant's sizes, so it
// matches what model.LoadWith holds.
func WeightBytes(info *ModelInfo, bits int) int64 {
	c := infoConfig(info)
	stored := storedBytesPerParam(info)
	var total float64
	var matParams int64
	add := func(rows, cols int, widened, embedding bool) {
		matParams += int64(rows) * int64(cols)
		switch {
		case bits == 8 || (bits == 4 && embedding):
			total += float64(quant.Bytes(compute.Q8, rows, cols))
		case bits == 4:
			total += float64(quant.Bytes(compute.NF4, rows, cols))
		case widened:
			total += float64(rows) * float64(cols) * 4
		default:
			total += float64(rows) * float64(cols) * stored
		}
	}
	add(c.Vocab, c.Dim, false, true)
	if c.Arch == model.ArchGPT2 {
		add(c.MaxPos, c.Dim, false, true)
	}
	for range c.Layers {
		for name, s := range moduleShapes(c) {
			if c.Arch == model.ArchGPT2 && name == "c_proj" {
				add(c.Dim, c.Dim, true, false)
				add(c.Dim, c.FFN, true, false)
				continue
			}
			add(s.out, s.in, c.Arch == model.ArchGPT2, false)
		}
	}
	if !c.TiedHead {
		add(c.Vocab, c.Dim, false, true)
	}
	vectors := max(info.Params-matParams, 0)
	return int64(total) + vectors*4
}

// storedBytesPerParam is the mean byte size of the checkpoint's values.
func storedBytesPerParam(info *ModelInfo) float64 {
	var n, b float64
	for dt, c := range info.DTypes {
		n += float64(c)
		b += float64(c) * float64(dtypeSize(dt))
	}
	if n == 0 {
		return 4
	}
	return b / n
}

func dtypeSize(dt string) int {
	switch strings.ToUpper(dt) {
	case "F64", "I64", "U64":
		return 8
	case "F32", "I32", "U32":
		return 4
	case "F16", "BF16", "I16", "U16":
		return 2
	case "I8", "U8", "F8_E4M3", "F8_E5M2", "BOOL":
		return 1
	}
	return 4
}

// infoConfig rebuilds the parts of a model.Config the estimate needs.
func infoConfig(info *ModelInfo) *model.Config {
	arch := model.Arch(info.Architecture)
	return &model.Config{ModelType: info.ModelType, Arch: arch, Vocab: info.Vocab, Dim: info.Hidden,
		Layers: info.Layers, Heads: info.Heads, KVHeads: max(info.KVHeads, 1), HeadDim: info.HeadDim,
		FFN: info.FFN, MaxPos: info.Context, TiedHead: info.TiedHead}
}

// moduleShape is the (in, out) of a linear module and how many of it each
// layer has.
type moduleShape struct{ in, out, count int }

// moduleShapes maps module names to their shapes for a config.
func moduleShapes(c *model.Config) map[string]moduleShape {
	D, F := c.Dim, c.FFN
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	if c.Arch == model.ArchGPT2 {
		return map[string]moduleShape{
			"c_attn": {D, 3 * D, 1},
			// attn.c_proj [D→D] and mlp.c_proj [F→D] share the name.
			"c_proj": {D + F, D, 1},
			"c_fc":   {D, F, 1},
		}
	}
	return map[string]moduleShape{
		"q_proj": {D, q, 1}, "k_proj": {D, kv, 1}, "v_proj": {D, kv, 1}, "o_proj": {q, D, 1},
		"gate_proj": {D, F, 1}, "up_proj": {D, F, 1}, "down_proj": {F, D, 1},
	}
}

// LoraParams counts the adapter parameters of a LoRA configuration: r·(in+out)
// per adapted module. Unknown target names are an error naming them.
func LoraParams(c *model.Config, targets []string, rank int) (int64, error) {
	shapes := moduleShapes(c)
	seen := map[string]bool{}
	var per int64
	for _, t := range targets {
		if t == "all-linear" {
			for name := range shapes {
				if !seen[name] {
					seen[name] = true
					per += loraPer(c, name, shapes[name], rank)
				}
			}
			continue
		}
		s, ok := shapes[t]
		if !ok {
			return 0, fmt.Errorf("target module %q is not a linear module of this %s model (have %s)", t, c.Arch, strings.Join(LinearModuleNames(c), ", "))
		}
		if !seen[t] {
			seen[t] = true
			per += loraPer(c, t, s, rank)
		}
	}
	return per * int64(c.Layers), nil
}

func loraPer(c *model.Config, name string, s moduleShape, rank int) int64 {
	if c.Arch == model.ArchGPT2 && name == "c_proj" {
		// two modules: attn.c_proj D→D and mlp.c_proj F→D
		return int64(rank) * int64(c.Dim+c.Dim+c.FFN+c.Dim)
	}
	return int64(rank) * int64(s.in+s.out)
}

// headChunk mirrors train's LM-head chunk: the logits of at most this many
// scored positions exist at a time (TestActivationEstimateMatchesAllocation
// checks the estimate against the engine's allocations).
const headChunk = 128

// flashAttention reports whether the CPU backend trains attention without
// keeping the [T, T] probabilities.
var _, flashAttention = any((*cpu.Backend)(nil)).(compute.FlashAttention)

// EstimateMemory estimates the memory of a training run of cfg on the model
// described by info, with frozen weights at cfg.Bits (16, 8 or 4; full
// training trains f32 weights). Free is filled from the machine's
// available memory.
func EstimateMemory(info *ModelInfo, cfg train.Config) (MemoryEstimate, error) {
	if info == nil {
		return MemoryEstimate{}, fmt.Errorf("memory estimate: no model")
	}
	bits := cfg.Bits
	switch bits {
	case 0:
		bits = 16
	case 16, 8, 4:
	default:
		return MemoryEstimate{}, fmt.Errorf("bit-width %d: want 16, 8 or 4", bits)
	}
	if cfg.Batch < 1 || cfg.SeqLen < 1 {
		return MemoryEstimate{}, fmt.Errorf("memory estimate: batch %d and max length %d must be positive", cfg.Batch, cfg.SeqLen)
	}
	c := infoConfig(info)
	e := MemoryEstimate{Bits: bits}
	var trainable int64
	if cfg.Mode == "full" {
		e.Bits = 16
		e.Weights = 0 // the weights are the trainable parameters
		trainable = info.Params
	} else {
		e.Weights = WeightBytes(info, bits)
		n, err := LoraParams(c, cfg.Targets, cfg.Rank)
		if err != nil {
			return e, err
		}
		trainable = n
	}
	e.Trainable = trainable * 4
	e.Gradients = trainable * 4
	switch cfg.Optimizer {
	case "sgd":
		if cfg.Momentum != 0 {
			e.Optimizer = trainable * 4
		}
	default:
		e.Optimizer = trainable * 8
	}
	e.Activations = activationBytes(c, cfg)
	// One chunk of logits (their gradient overwrites them in place) and of
	// the gathered hidden rows and their gradient. They live in the backward
	// scratch (model.NewGrads), which is free while the head runs: only what
	// exceeds it costs memory.
	k := min(int64(cfg.Batch)*int64(cfg.SeqLen), headChunk)
	head := k*int64(c.Vocab) + 2*k*int64(c.Dim)
	e.Logits = 4 * max(0, head-backwardScratch(c, cfg))
	e.Total = e.Weights + e.Trainable + e.Gradients + e.Optimizer + e.Activations + e.Logits
	if free, err := FreeMemory(); err == nil {
		e.Free = free
	}
	return e, nil
}

// activationBytes counts the f32 buffers of model.NewActsMode and NewGrads
// for one micro-batch: per layer what backward reads (model.KeepLean: q, k,
// v, the MLP pre-activations, the norm statistics and the attention's log-sum-exp B·H·T, or its probabilities
// B·H·T² on a backend without flash attention; with cfg.Recompute one such
// set for all layers), the residual stream, the buffers shared by all
// layers, the backward scratch and the LoRA intermediates.
func activationBytes(c *model.Config, cfg train.Config) int64 {
	B, T := int64(cfg.Batch), int64(cfg.SeqLen)
	n := B * T
	D, F := int64(c.Dim), int64(c.FFN)
	q, kv := int64(c.Heads*c.HeadDim), int64(c.KVHeads*c.HeadDim)
	perTok := q + 2*kv + F + 2 // q, k, v, up, rstd1, rstd2
	if c.Arch == model.ArchGPT2 {
		perTok += 2 // means
	} else {
		perTok += F // gate
	}
	att := B * int64(c.Heads) * T * T // probabilities
	if flashAttention && cfg.Backend != "gpu" {
		att = B * int64(c.Heads) * T // log-sum-exp only
	}
	kept := int64(c.Layers)
	if cfg.Recompute {
		kept = 1
	}
	perLayer := n*perTok + att
	shared := n * (D + max(F, q, 3*D)) // one D-wide buffer, one for qkv / attention output / activation
	res := int64(c.Layers+1) * n * D   // residual stream X[0..L]
	final := n * (D + 2)               // final norm output and statistics
	if c.Arch == model.ArchGPT2 {
		final += n * D // position embeddings of the batch
	}
	grads := n*D + backwardScratch(c, cfg) // dFinal and the rest
	var lora int64
	if cfg.Mode != "full" {
		shapes := moduleShapes(c)
		mods := int64(0)
		var inSum int64
		for _, t := range cfg.Targets {
			if t == "all-linear" {
				mods, inSum = 0, 0
				for _, s := range shapes {
					mods++
					inSum += int64(s.in)
				}
				break
			}
			if s, ok := shapes[t]; ok {
				mods++
				inSum += int64(s.in)
			}
		}
		r := int64(cfg.Rank)
		lora = int64(c.Layers) * n * 2 * r * mods // h and dh per module
		if cfg.Dropout > 0 {
			lora += int64(c.Layers) * n * 3 * inSum // dropped input, its gradient, the mask
		}
	}
	return 4 * (kept*perLayer + shared + res + final + grads + lora)
}

// backwardScratch is the size in values of the backward buffers other than
// dFinal, one allocation in model.NewGrads: dRes, tmp, dNorm, dQ, dAtt, dK,
// dV, dUp, dAct, and dQKV (GPT-2) or dGate.
func backwardScratch(c *model.Config, cfg train.Config) int64 {
	n := int64(cfg.Batch) * int64(cfg.SeqLen)
	D, F := int64(c.Dim), int64(c.FFN)
	q, kv := int64(c.Heads*c.HeadDim), int64(c.KVHeads*c.HeadDim)
	last := F
	if c.Arch == model.ArchGPT2 {
		last = 3 * D
	}
	return n * (3*D + 2*q + 2*kv + 2*F + last)
}

// FreeMemory is the memory available to a new process: MemAvailable from
// /proc/meminfo on Linux. Elsewhere it is an error.
func FreeMemory() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("free memory: %w", err)
	}
	return parseMemAvailable(b)
}

// parseMemAvailable reads MemAvailable (or, on old kernels, MemFree) in
// bytes from the contents of /proc/meminfo.
func parseMemAvailable(b []byte) (int64, error) {
	var free int64 = -1
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 2 && strings.EqualFold(f[2], "kB") {
			v *= 1024
		}
		switch f[0] {
		case "MemAvailable:":
			return v, nil
		case "MemFree:":
			free = v
		}
	}
	if free < 0 {
		return 0, fmt.Errorf("free memory: no MemAvailable or MemFree line in /proc/meminfo")
	}
	return free, nil
}

// FormatBytes writes a byte count with a binary unit: "512 B", "1.5 KiB", "2.0 GiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
