#!/usr/bin/python3
"""The PyTorch side of the README's performance table: the same LoRA training
steps `fynetune bench` runs (AdamW, r=8 on attention, batch 4 x 128), with the
plain-PyTorch statement of the model in ../shared/reference/reflora.py.

Needs Debian's python3-torch (and libopenblas0-pthread). One case per process,
so the peak RSS is the case's own:

    /usr/bin/python3 scripts/bench_pytorch.py --case gpt2-124m
    /usr/bin/python3 scripts/bench_pytorch.py --case gpt2-tiny
    /usr/bin/python3 scripts/bench_pytorch.py --case stories260K
"""
import argparse
import json
import os
import resource
import sys
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
shared = os.environ.get("FYNETUNE_SHARED", os.path.join(here, "..", "..", "shared"))
sys.path.insert(0, os.path.join(shared, "reference"))
import reflora  # noqa: E402


def gpt2_random(layers, dim, heads, vocab, positions=1024):
    g = torch.Generator().manual_seed(1)
    r = lambda *s: torch.randn(*s, generator=g) * 0.02
    sd = {"transformer.wte.weight": r(vocab, dim), "transformer.wpe.weight": r(positions, dim),
          "transformer.ln_f.weight": torch.ones(dim), "transformer.ln_f.bias": torch.zeros(dim)}
    for i in range(layers):
        p = f"transformer.h.{i}."
        for n in ("ln_1", "ln_2"):
            sd[p + n + ".weight"], sd[p + n + ".bias"] = torch.ones(dim), torch.zeros(dim)
        for n, (i_, o) in {"attn.c_attn": (dim, 3 * dim), "attn.c_proj": (dim, dim),
                           "mlp.c_fc": (dim, 4 * dim), "mlp.c_proj": (4 * dim, dim)}.items():
            sd[p + n + ".weight"], sd[p + n + ".bias"] = r(i_, o), torch.zeros(o)
    cfg = {"model_type": "gpt2", "n_layer": layers, "n_embd": dim, "n_head": heads, "vocab_size": vocab,
           "n_positions": positions, "layer_norm_epsilon": 1e-5}
    return reflora.Model(cfg, sd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True, choices=["gpt2-124m", "gpt2-tiny", "stories260K"])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    B, T = a.batch, a.seq_len
    if a.case == "gpt2-124m":
        m, targets = gpt2_random(12, 768, 12, 50257), ["c_attn"]
    elif a.case == "gpt2-tiny":
        m, targets = gpt2_random(4, 256, 4, 50257), ["c_attn"]
    else:
        m = reflora.load_model(os.path.join(shared, "fixtures", "models", "stories260K"))
        targets = ["q_proj", "k_proj", "v_proj", "o_proj"]
    m.add_lora(targets, 8, 16)
    gen = torch.Generator().manual_seed(0)
    for mod in m.lora.values():
        mod.init_peft_default(gen)
    V = m.c["vocab_size"]
    ids = torch.randint(0, V, (B, T), generator=gen)
    tgt = torch.randint(0, V, (B, T), generator=gen)
    opt = torch.optim.AdamW(m.params(), lr=1e-4)

    def step():
        opt.zero_grad()
        loss = m.loss(ids, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.params(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    secs = time.perf_counter() - t0
    print(json.dumps({"case": a.case, "backend": f"pytorch {torch.__version__} ({a.threads} threads)",
                      "batch": B, "seq_len": T, "steps": a.steps, "tokens_per_s": a.steps * B * T / secs,
                      "step_ms": 1000 * secs / a.steps,
                      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "last_loss": loss}))


if __name__ == "__main__":
    main()
