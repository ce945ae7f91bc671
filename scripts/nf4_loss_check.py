#!/usr/bin/python3
"""Cross-checks the 4-bit (NF4) eval loss of a llama checkpoint in PyTorch, and tries NF4 quantizers
that keep the storage format (codes + one scale per block of 64, value = codebook[code]*scale).

usage: /usr/bin/python3 scripts/nf4_loss_check.py [--model DIR] [--rows ROWS.json] [--calib N]

Prints the loss and the ratio to f32 of: the loader's --bits 16/8/4; NF4 on one kind of matrix or one
layer at a time; the scale choices of scale searches (not used by the loader); int8 for some
matrices; with --calib N, imatrix weighting and GPTQ from N rows the model writes itself.

ROWS.json is the list of eval windows exactly as `fynetune eval` builds them, [{"IDs": [...],
"Labels": [...]}, ...] (labels -100 where a position is not scored). Without it the script cuts the
token stream of ../golden/stories260K/tokens.json into non-overlapping windows of 257 tokens, as
train/data's windows() does: the ratio 4-bit / 16-bit is then the number to compare. To dump the
eval's own windows, build a throwaway module outside the repository with this main and a go.work
that uses the repository:

    tk, _ := tokenizer.Load(modelDir); tok := train.TokAdapter{Tokenizer: tk}
    f, _ := data.ParseFormat("auto")
    dc := data.Config{Path: textFile, SeqLen: 256, Truncate: true}; dc.Format = f
    ds, _ := data.Load(dc, tok)
    json.NewEncoder(os.Stdout).Encode(append(ds.Train, ds.Val...))   // fields IDs, Labels

Everything the Go loader does at --bits 4 is emulated bit for bit: linear weights (q,k,v,o,gate,up,
down) NF4 in blocks of 64 along each row (the last block of a row zero-padded), codes by
bitsandbytes' midpoint decision tree on x*(1/absmax), double quantization of the scales (int8
around the mean, one float32 per 256 blocks, see compute/quant/doc.go); the embedding / tied head
int8 blockwise absmax (block 64). The NF4 emulation is checked against ../golden/quant first.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared"))
sys.path.insert(0, os.path.join(SHARED, "reference"))
from reflora import load_model, load_safetensors  # noqa: E402

CODEBOOK = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0], dtype=torch.float32)
# bitsandbytes' dQuantizeNF4 thresholds (as float32): a value on a midpoint takes the lower code
MIDS = torch.tensor([
    -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
    -0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
    0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
    0.5016634166240692, 0.6427869200706482, 0.8614784181118011], dtype=torch.float32)
BLOCK = 64
LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def nf4_code(y):
    """Code of every value of y (already divided by its scale): count of thresholds strictly below."""
    return torch.bucketize(y.contiguous(), MIDS, right=False)


def blocks(W):
    """[out, in] -> [out*nb, 64] blocks along rows, the last block of a row zero-padded."""
    out, inn = W.shape
    nb = -(-inn // BLOCK)
    Wp = torch.zeros(out, nb * BLOCK, dtype=torch.float32)
    Wp[:, :inn] = W
    return Wp.reshape(out * nb, BLOCK)


def unblocks(B, shape):
    out, inn = shape
    return B.reshape(out, -1)[:, :inn]


def round_half_away(x):
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def double_quant(scales):
    """compute/quant doubleQuantize then dqAbsmax: what a decoder sees for each block scale."""
    s64 = scales.double()
    offset = torch.tensor(float(s64.mean()), dtype=torch.float32)
    out = torch.empty_like(scales)
    for g in range(0, scales.numel(), 256):
        a = scales[g:g + 256]
        s = (a - offset).abs().max()
        q = round_half_away(((a - offset) / s) * 127) if s != 0 else torch.zeros_like(a)
        out[g:g + 256] = q * (s / 127) + offset
    return out


def absmax_scales(X):
    return X.abs().amax(dim=1)


def encode(X, scales):
    """Codes of blocks X [N,64] for the given scales (0 scale: all code 7), as bitsandbytes: x*(1/s)."""
    inv = torch.where(scales != 0, 1 / torch.where(scales != 0, scales, torch.ones_like(scales)),
                      torch.zeros_like(scales))
    c = nf4_code(X * inv[:, None])
    c[scales == 0] = 7
    return c


def search_scales(X, lo=0.70, hi=1.0, steps=61, flip=False, refine=0, weights=None):
    """Per block, the scale s among absmax*f (f in [lo, hi], and -absmax*f when flip) whose
    re-chosen codes give the least (weighted) squared error; refine > 0 then runs that many
    rounds of least-squares scale s = <w x, c>/<w c, c> + re-coding, kept only where they help."""
    amax = absmax_scales(X)
    fs = torch.linspace(lo, hi, steps)
    if flip:
        fs = torch.cat([fs, -fs])
    w = torch.ones_like(X) if weights is None else weights
    best_s, best_e = amax.clone(), torch.full_like(amax, float("inf"))
    for f in fs:
        s = amax * f
        c = encode(X, s)
        e = (w * (CODEBOOK[c] * s[:, None] - X) ** 2).sum(1)
        better = e < best_e
        best_s, best_e = torch.where(better, s, best_s), torch.where(better, e, best_e)
    for _ in range(refine):
        c = CODEBOOK[encode(X, best_s)]
        den = (w * c * c).sum(1)
        s = torch.where(den > 0, (w * X * c).sum(1) / torch.where(den > 0, den, torch.ones_like(den)), best_s)
        c2 = encode(X, s)
        e = (w * (CODEBOOK[c2] * s[:, None] - X) ** 2).sum(1)
        better = e < best_e
        best_s, best_e = torch.where(better, s, best_s), torch.where(better, e, best_e)
    best_s[amax == 0] = 0
    return best_s


def nf4_dequant(W, method="absmax", double=True, weights=None, **kw):
    """The [out, in] weight a decoder sees after NF4 with the given scale choice."""
    X = blocks(W)
    Wt = None if weights is None else blocks(weights)
    s = absmax_scales(X) if method == "absmax" else search_scales(X, weights=Wt, **kw)
    c = encode(X, s)  # codes are chosen from the exact scale, the scale is compressed afterwards
    sd = double_quant(s) if double else s
    return unblocks(CODEBOOK[c] * sd[:, None], W.shape), ((CODEBOOK[c] * s[:, None] - X) ** 2).sum()


def q8_dequant(W):
    """int8 blockwise absmax, block 64 (compute/quant Q8)."""
    X = blocks(W)
    a = absmax_scales(X)
    q = round_half_away((X / torch.where(a == 0, torch.ones_like(a), a)[:, None]) * 127)
    return unblocks(q * (a / 127)[:, None], W.shape)


def check_golden():
    g = load_safetensors(os.path.join(SHARED, "golden", "quant", "quant.safetensors"))
    X = g["input"].reshape(-1, BLOCK)
    s = absmax_scales(X)
    c = encode(X, s)
    assert torch.equal(s, g["nf4.absmax"]), "absmax differs from the golden"
    assert torch.equal(c.reshape(6, 256).to(torch.uint8), g["nf4.codes"]), "NF4 codes differ from the golden"
    assert torch.equal((CODEBOOK[c] * s[:, None]).reshape(6, 256), g["nf4.dequant"]), "NF4 dequant differs"


def windows_from_stream(stream, seq):
    out, w = [], seq + 1
    for off in range(0, len(stream) - 1, w):
        ids = stream[off:off + w]
        if len(ids) >= 2:
            out.append({"IDs": ids[:-1], "Labels": ids[1:]})
    return out


class Evaluator:
    def __init__(self, model_dir, rows):
        self.m = load_model(model_dir)
        self.orig = {k: v.clone() for k, v in self.m.sd.items()}
        self.rows = rows

    def reset(self):
        self.m.sd = {k: v.clone() for k, v in self.orig.items()}

    def loss(self):
        tot, n = 0.0, 0
        with torch.no_grad():
            for r in self.rows:
                ids = torch.tensor([r["IDs"]])
                tg = torch.tensor([r["Labels"]])
                logits = self.m.forward(ids)
                tot += float(F.cross_entropy(logits[0], tg[0].long(), ignore_index=-100, reduction="sum"))
                n += int((tg != -100).sum())
        return tot / n

    def linear_keys(self, kinds=LINEARS):
        return [k for k in self.orig if k.endswith(".weight") and k.split(".")[-2] in kinds]

    def quantize(self, kinds=LINEARS, embed=True, weights=None, **kw):
        """Replaces the weights of the given kinds by their NF4 decode; returns the total squared error."""
        self.reset()
        err = 0.0
        for k in self.linear_keys(kinds):
            w = None if weights is None else weights.get(k)
            self.m.sd[k], e = nf4_dequant(self.orig[k], weights=w, **kw)
            err += float(e)
        if embed:
            self.m.sd["model.embed_tokens.weight"] = q8_dequant(self.orig["model.embed_tokens.weight"])
        return err

    def input_second_moments(self, ids):
        """E[h_j^2] of every linear layer's input column j over the tokens ids (the imatrix of
        llama.cpp), from the unquantized model, broadcast to the weight's shape."""
        self.reset()
        acc = {}
        plain = self.m.module

        def module(path):
            inner = plain(path)

            def f(x):
                acc[path + ".weight"] = acc.get(path + ".weight", 0) + x.reshape(-1, x.shape[-1]).pow(2).mean(0)
                return inner(x)
            return f

        self.m.module = module
        try:
            with torch.no_grad():
                for r in ids:
                    self.m.forward(torch.tensor([r]))
        finally:
            del self.m.module
        return {k: acc[k].expand_as(self.orig[k]).clone() for k in self.linear_keys() if k in acc}

    def sample(self, n, length, seed):
        """Text the unquantized model writes itself (temperature 1 from BOS): calibration data
        that owes nothing to the eval file."""
        self.reset()
        g = torch.Generator().manual_seed(seed)
        ids = torch.ones(n, 1, dtype=torch.long)
        with torch.no_grad():
            while ids.shape[1] < length:
                p = self.m.forward(ids)[:, -1].softmax(-1)
                ids = torch.cat([ids, torch.multinomial(p, 1, generator=g)], 1)
        out = ids.tolist()
        return out


def hessians(ev, calib):
    """E[h h^T] of every linear layer's input over the tokens calib, from the unquantized model."""
    ev.reset()
    acc, cnt = {}, {}
    plain = ev.m.module

    def module(path):
        inner = plain(path)

        def f(x):
            X = x.reshape(-1, x.shape[-1]).double()
            acc[path + ".weight"] = acc.get(path + ".weight", 0) + X.T @ X
            cnt[path + ".weight"] = cnt.get(path + ".weight", 0) + X.shape[0]
            return inner(x)
        return f

    ev.m.module = module
    try:
        with torch.no_grad():
            for r in calib:
                ev.m.forward(torch.tensor([r]))
    finally:
        del ev.m.module
    return {k: acc[k] / cnt[k] for k in acc}


def gptq(W, H, scale_fn, damp=0.01):
    """GPTQ (Frantar et al. 2022) onto the NF4 grid: columns coded left to right, each one's
    error spread over the columns not yet coded through the inverse Hessian; a block's scale is
    chosen (scale_fn) from the updated weights when its first column is reached. Returns the
    decode with double-quantized scales (codes chosen from the exact scale, as Quantize does)."""
    W = W.clone().double()
    out, inn = W.shape
    H = H.clone()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H += damp * torch.mean(torch.diag(H)) * torch.eye(inn, dtype=H.dtype)
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    codes = torch.zeros(out, inn, dtype=torch.long)
    S = torch.zeros(out, -(-inn // BLOCK))
    for i in range(inn):
        if i % BLOCK == 0:
            blk = torch.zeros(out, BLOCK)
            n = min(BLOCK, inn - i)
            blk[:, :n] = W[:, i:i + n].float()
            S[:, i // BLOCK] = scale_fn(blk)
        s = S[:, i // BLOCK]
        c = encode(W[:, i].float()[:, None], s)[:, 0]
        codes[:, i] = c
        err = (W[:, i] - (CODEBOOK[c] * s).double()) / Hinv[i, i]
        W[:, i + 1:] -= err[:, None] * Hinv[i, i + 1:][None, :]
    Sd = double_quant(S.reshape(-1)).reshape(S.shape)
    return CODEBOOK[codes] * Sd.repeat_interleave(BLOCK, dim=1)[:, :inn]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(SHARED, "fixtures", "models", "stories260K"))
    ap.add_argument("--rows", help="eval windows dumped from the Go loader (JSON)")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--calib", type=int, default=0,
                    help="rows of self-generated text for the data-aware variants (imatrix weighting, GPTQ); "
                         "0 skips them (sampling is slow: minutes)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    check_golden()
    print("NF4 emulation matches ../golden/quant bit for bit")

    if a.rows:
        rows = json.load(open(a.rows))
        src = a.rows
    else:
        stream = json.load(open(os.path.join(SHARED, "golden", "stories260K", "tokens.json")))["stream"]
        rows = windows_from_stream(stream, a.seq_len)
        src = "golden/stories260K/tokens.json stream"
    ev = Evaluator(a.model, rows)
    print(f"eval rows: {len(rows)} from {src}, {sum(sum(l != -100 for l in r['Labels']) for r in rows)} scored")

    ev.reset()
    base = ev.loss()
    print(f"\n{'config':58s} {'loss':>8s} {'ratio':>7s} {'sq.err':>9s}")

    def report(name, err=None):
        l = ev.loss()
        e = "" if err is None else f"{err:9.4f}"
        print(f"{name:58s} {l:8.5f} {l / base:7.4f} {e}", flush=True)
        return l

    # scale search: +-absmax*f, f = 1, 0.99, ..., 0.8
    GO = dict(method="search", lo=0.8, hi=1.0, steps=21, flip=True)

    print(f"{'f32 (--bits 16)':58s} {base:8.5f} {1:7.4f}")
    ev.reset()
    ev.m.sd["model.embed_tokens.weight"] = q8_dequant(ev.orig["model.embed_tokens.weight"])
    report("int8 embedding only")
    ev.reset()
    for k in ev.linear_keys():
        ev.m.sd[k] = q8_dequant(ev.orig[k])
    ev.m.sd["model.embed_tokens.weight"] = q8_dequant(ev.orig["model.embed_tokens.weight"])
    report("int8 everything (--bits 8)")
    report("NF4 absmax + double quant, int8 embed (--bits 4)", ev.quantize())
    report("NF4 absmax, no double quant", ev.quantize(double=False))

    print("\nper-matrix sensitivity: NF4 on one kind only, f32 elsewhere (absmax, then the scale search)")
    for kind in LINEARS:
        report(f"  {kind}", ev.quantize(kinds=(kind,), embed=False))
    for kind in LINEARS:
        report(f"  {kind} (search)", ev.quantize(kinds=(kind,), embed=False, **GO))
    print("per-layer sensitivity: NF4 absmax on one layer's 7 matrices only")
    for i in range(ev.m.c["num_hidden_layers"]):
        ev.reset()
        for k in ev.linear_keys():
            if f"layers.{i}." in k:
                ev.m.sd[k], _ = nf4_dequant(ev.orig[k])
        report(f"  layer {i}")

    print("\nscale choices (all with double quant and int8 embed, as --bits 4)")
    report("scale search: +-absmax*f, f in [0.80,1.00] step 0.01", ev.quantize(**GO))
    report("same, f in [0.70,1.00] step 0.005", ev.quantize(method="search", flip=True))
    report("same, no sign flip (0 <= scale <= absmax)", ev.quantize(method="search", lo=0.8, steps=21))
    report("sign flip only (f = 1)", ev.quantize(method="search", lo=1.0, hi=1.0, steps=1, flip=True))
    report("search + least-squares refine of the scale", ev.quantize(refine=4, **GO))
    report("search, no double quant", ev.quantize(double=False, **GO))
    # data-free weighting of llama.cpp's k-quants without an imatrix: w = x^2 (rmse_type 1)
    wx = {k: ev.orig[k] ** 2 for k in ev.linear_keys()}
    report("search, error weighted by w^2", ev.quantize(weights=wx, **GO))

    print("\nleaving NF4 for some matrices (int8 blockwise, as the embedding)")
    for keep in (("down_proj",), ("up_proj", "down_proj"), ("gate_proj", "up_proj", "down_proj")):
        ev.quantize(**GO)
        for k in ev.linear_keys(keep):
            ev.m.sd[k] = q8_dequant(ev.orig[k])
        report("  search, int8 " + ",".join(keep))

    if a.calib > 0:
        calib = ev.sample(a.calib, a.seq_len, seed=1)
        mom = ev.input_second_moments(calib)
        print(f"\ndata-aware, from {a.calib} rows of {a.seq_len} tokens the f32 model wrote itself")
        report("search, error weighted by E[h^2] (imatrix)", ev.quantize(weights=mom, **GO))
        Hs = hessians(ev, calib)
        for name, fn in (("absmax", absmax_scales),
                         ("scale search", lambda X: search_scales(X, lo=0.8, steps=21, flip=True))):
            ev.reset()
            for k in ev.linear_keys():
                ev.m.sd[k] = gptq(ev.orig[k], Hs[k], fn).float()
            ev.m.sd["model.embed_tokens.weight"] = q8_dequant(ev.orig["model.embed_tokens.weight"])
            report(f"GPTQ onto NF4, {name} scales")


if __name__ == "__main__":
    main()
