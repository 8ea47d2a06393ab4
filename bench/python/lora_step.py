#!/usr/bin/env python3
"""The PyTorch side of `peft bench` (suite "python"): the same BERT-style encoder, batch and LoRA
training step as PeftSharp's benchmark, on the weights PeftSharp wrote.

usage: lora_step.py WEIGHTS.safetensors ROUNDS STEPS_PER_ROUND
Prints one JSON line: {"loss0": first loss before any update, "round_ms": [per-step ms of each round],
"torch": version, "threads": n}.
"""
import json
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "F16": np.float16}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors


def pick(tensors, *candidates):
    for c in candidates:
        if c in tensors:
            return tensors[c]
    raise KeyError(f"none of {candidates} in the weights file")


def main():
    path, rounds, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(int(pick(read_safetensors(path), "meta/threads").item()))
    t = read_safetensors(path)
    heads = int(t["meta/heads"].item())
    scaling = float(t["meta/scaling"].item())
    layers = int(t["meta/layers"].item())
    ids, labels = t["batch/ids"], t["batch/labels"]
    hidden = t["bert.embeddings.word_embeddings.weight"].shape[1]
    eps = 1e-12

    def linear_of(prefix):
        w = pick(t, prefix + ".weight", prefix + ".base_layer.weight")
        b = pick(t, prefix + ".bias", prefix + ".base_layer.bias")
        return w, b

    trainable = []
    blocks = []
    for i in range(layers):
        p = f"bert.encoder.layer.{i}."
        block = {}
        for name in ["query", "key", "value"]:
            block[name] = linear_of(p + "attention.self." + name)
            lora = p + f"attention.self.{name}.default."
            a = t.get(lora + "lora_A", t.get(lora + "lora_A.weight"))
            if a is not None:
                a = a.clone().requires_grad_(True)
                b = pick(t, lora + "lora_B", lora + "lora_B.weight").clone().requires_grad_(True)
                trainable += [a, b]
                block[name + "_lora"] = (a, b)
        block["attn_out"] = linear_of(p + "attention.output.dense")
        block["attn_ln"] = (t[p + "attention.output.LayerNorm.weight"], t[p + "attention.output.LayerNorm.bias"])
        block["ffn_in"] = linear_of(p + "intermediate.dense")
        block["ffn_out"] = linear_of(p + "output.dense")
        block["ffn_ln"] = (t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"])
        blocks.append(block)
    if len(trainable) != 4 * layers:
        raise SystemExit(f"expected LoRA factors on query and value of {layers} layers, found {len(trainable) // 2} pairs")
    cw = pick(t, "classifier.modules_to_save.default.weight", "classifier.weight").clone().requires_grad_(True)
    cb = pick(t, "classifier.modules_to_save.default.bias", "classifier.bias").clone().requires_grad_(True)
    trainable += [cw, cb]
    words, positions, types = t["bert.embeddings.word_embeddings.weight"], t["bert.embeddings.position_embeddings.weight"], t["bert.embeddings.token_type_embeddings.weight"]
    emb_ln = (t["bert.embeddings.LayerNorm.weight"], t["bert.embeddings.LayerNorm.bias"])
    pool = linear_of("bert.pooler.dense")
    batch, seq = ids.shape

    def forward():
        h = words[ids] + positions[:seq] + types[0]
        h = F.layer_norm(h, (hidden,), *emb_ln, eps).view(batch * seq, hidden)
        for blk in blocks:
            def proj(name):
                y = F.linear(h, *blk[name])
                if name + "_lora" in blk:
                    a, b = blk[name + "_lora"]
                    y = y + (h @ a.t() * scaling) @ b.t()
                return y

            def split(x):
                return x.view(batch, seq, heads, hidden // heads).transpose(1, 2)

            q, k, v = split(proj("query")), split(proj("key")), split(proj("value"))
            if hasattr(F, "scaled_dot_product_attention"):
                ctx = F.scaled_dot_product_attention(q, k, v)
            else:  # PyTorch < 2.0 (Debian 12's 1.13): the same math, unfused
                ctx = torch.softmax(q @ k.transpose(-2, -1) / (hidden // heads) ** 0.5, dim=-1) @ v
            ctx = ctx.transpose(1, 2).reshape(batch * seq, hidden)
            h = F.layer_norm(F.linear(ctx, *blk["attn_out"]) + h, (hidden,), *blk["attn_ln"], eps)
            f = F.linear(F.gelu(F.linear(h, *blk["ffn_in"])), *blk["ffn_out"])
            h = F.layer_norm(f + h, (hidden,), *blk["ffn_ln"], eps)
        pooled = torch.tanh(F.linear(h.view(batch, seq, hidden)[:, 0], *pool))
        return F.linear(pooled, cw, cb)

    with torch.no_grad():
        loss0 = F.cross_entropy(forward(), labels).item()
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)

    def step():
        loss = F.cross_entropy(forward(), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    for _ in range(3):
        step()
    round_ms = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        round_ms.append((time.perf_counter() - start) * 1000 / steps)
    print(json.dumps({"loss0": loss0, "round_ms": round_ms, "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
