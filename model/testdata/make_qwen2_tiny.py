#!/usr/bin/python3
"""Writes model/testdata/qwen2-tiny: a random Qwen2-layout model exercising the
Llama-family quirks no fixture has (q/k/v biases, an explicit head_dim that is
not hidden/heads, GQA, an untied lm_head, rope_theta), a byte-level tokenizer,
and the logits PyTorch computes for it with ../shared/reference/reflora.py.

Run from the repository root: /usr/bin/python3 model/testdata/make_qwen2_tiny.py
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "reference"))
import reflora  # noqa: E402

out = os.path.join(os.path.dirname(__file__), "qwen2-tiny")
os.makedirs(out, exist_ok=True)
cfg = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 260, "hidden_size": 32,
       "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
       "head_dim": 12, "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 1000.0,
       "tie_word_embeddings": False, "hidden_act": "silu", "bos_token_id": 256, "eos_token_id": 257,
       "torch_dtype": "float32"}
g = torch.Generator().manual_seed(1234)
D, F, V, hd, H, KV = 32, 48, 260, 12, 4, 2
r = lambda *s: torch.randn(*s, generator=g) * 0.2
sd = {"model.embed_tokens.weight": r(V, D), "model.norm.weight": 1 + r(D), "lm_head.weight": r(V, D)}
for i in range(2):
    p = f"model.layers.{i}."
    sd[p + "input_layernorm.weight"] = 1 + r(D)
    sd[p + "post_attention_layernorm.weight"] = 1 + r(D)
    for n, o in (("q_proj", H * hd), ("k_proj", KV * hd), ("v_proj", KV * hd)):
        sd[p + "self_attn." + n + ".weight"] = r(o, D)
        sd[p + "self_attn." + n + ".bias"] = r(o)
    sd[p + "self_attn.o_proj.weight"] = r(D, H * hd)
    sd[p + "mlp.gate_proj.weight"] = r(F, D)
    sd[p + "mlp.up_proj.weight"] = r(F, D)
    sd[p + "mlp.down_proj.weight"] = r(D, F)
reflora.save_safetensors(os.path.join(out, "model.safetensors"), sd, {"format": "pt"})
json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=1)

# A byte-level BPE tokenizer with no merges: the 256 GPT-2 byte symbols, then specials.
bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
cs, n = bs[:], 0
for b in range(256):
    if b not in bs:
        bs.append(b)
        cs.append(256 + n)
        n += 1
sym = {b: chr(c) for b, c in zip(bs, cs)}
vocab = {sym[b]: b for b in range(256)}
specials = ["<|bos|>", "<|eos|>", "<|pad|>", "<|unused|>"]
for k, s in enumerate(specials):
    vocab[s] = 256 + k
tok = {"version": "1.0", "truncation": None, "padding": None,
       "added_tokens": [{"id": 256 + k, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                         "normalized": False, "special": True} for k, s in enumerate(specials)],
       "normalizer": None,
       "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
       "post_processor": None,
       "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
       "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                 "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": []}}
json.dump(tok, open(os.path.join(out, "tokenizer.json"), "w"), ensure_ascii=False)
json.dump({"bos_token": "<|bos|>", "eos_token": "<|eos|>", "add_bos_token": False},
          open(os.path.join(out, "tokenizer_config.json"), "w"), indent=1)

model = reflora.Model(cfg, sd)
ids = torch.tensor([[256, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 10, 257],
                    [256, 84, 104, 101, 32, 113, 117, 105, 99, 107, 32, 102, 111, 120, 46, 32]])
hidden = []
with torch.no_grad():
    logits = model.forward(ids, hidden)
gold = {"input_ids": ids.to(torch.int32), "logits": logits.contiguous()}
for i, h in enumerate(hidden):
    gold[f"hidden.{i}"] = h.contiguous()
reflora.save_safetensors(os.path.join(out, "golden.safetensors"), gold)
print("wrote", out)
