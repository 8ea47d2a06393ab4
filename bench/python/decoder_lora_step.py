#!/usr/bin/env python3
"""The PyTorch side of `peft bench` (suite "python-decoder"): a Llama decoder's LoRA SFT step written
by hand in plain torch ops (no transformers, works on PyTorch 1.13 and 2.x), on the weights and batch
PeftSharp wrote.

usage: decoder_lora_step.py WEIGHTS.safetensors

The file holds the PEFT model's state dict (model.layers.N.self_attn.q_proj.base_layer.weight,
...q_proj.default.lora_A / lora_B, model.embed_tokens.weight, norms), "batch/ids" (batch, T), and
in its metadata "config" (the model's config.json), "scaling" (LoRA alpha / r), "threads", "lr",
"weight_decay" and "max_grad_norm".

Protocol, one JSON object per line on stdout: first {"loss0": loss before any update, "torch",
"threads", "blas"}; then for every "step" line read on stdin one training step (forward, causal-LM
loss over every token, backward, gradient clipping, AdamW) and {"ms", "cpu_ms" (all threads), "loss"}; "quit" or end of
input ends the process. PeftSharp drives it so that the two steps alternate round by round.
"""
import json
import re
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "F16": np.float16}
PROJECTIONS = [("self_attn", "q_proj"), ("self_attn", "k_proj"), ("self_attn", "v_proj"), ("self_attn", "o_proj"),
               ("mlp", "gate_proj"), ("mlp", "up_proj"), ("mlp", "down_proj")]


def read_safetensors(path):
    """The tensors (read one at a time, no whole-file copy) and the metadata strings."""
    tensors = {}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        start = 8 + n
        for name, info in header.items():
            if name == "__metadata__":
                continue
            begin, end = info["data_offsets"]
            dtype = np.dtype(DTYPES[info["dtype"]])
            f.seek(start + begin)
            array = np.fromfile(f, dtype=dtype, count=(end - begin) // dtype.itemsize).reshape(info["shape"])
            tensors[name] = torch.from_numpy(array)
    return tensors, header.get("__metadata__", {})


def blas():
    """The BLAS libtorch was built with (torch.__config__.show()) and the BLAS library actually loaded."""
    match = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    torch.ones(64, 64) @ torch.ones(64, 64)
    try:
        with open("/proc/self/maps") as maps:
            loaded = sorted({line.split("/")[-1].strip() for line in maps if re.search(r"blas|mkl", line.split("/")[-1])})
    except OSError:
        loaded = []
    return (match.group(1) if match else "?") + (": " + ", ".join(loaded) if loaded else "")


def main():
    t, meta = read_safetensors(sys.argv[1])
    config = json.loads(meta["config"])
    torch.set_num_threads(int(meta["threads"]))
    scaling = float(meta["scaling"])
    layers = config["num_hidden_layers"]
    heads, kv = config["num_attention_heads"], config["num_key_value_heads"]
    hidden = config["hidden_size"]
    head_dim = config.get("head_dim") or hidden // heads
    eps, theta = config["rms_norm_eps"], config.get("rope_theta", 10000.0)
    if not config.get("tie_word_embeddings", True) or config.get("hidden_act", "silu") != "silu":
        raise SystemExit("decoder_lora_step.py implements the Llama shape with tied embeddings and SiLU only")
    ids = t["batch/ids"]
    batch, seq = ids.shape
    embeddings = t["model.embed_tokens.weight"]
    final_norm = t["model.norm.weight"]

    trainable = []
    blocks = []
    for i in range(layers):
        p = f"model.layers.{i}."
        block = {"input_norm": t[p + "input_layernorm.weight"], "post_norm": t[p + "post_attention_layernorm.weight"]}
        for part, name in PROJECTIONS:
            prefix = p + f"{part}.{name}."
            a = t[prefix + "default.lora_A"].clone().requires_grad_(True)
            b = t[prefix + "default.lora_B"].clone().requires_grad_(True)
            trainable += [a, b]
            block[name] = (t[prefix + "base_layer.weight"], a, b)
        blocks.append(block)

    # RoPE tables as PeftSharp builds them (rotate-half convention): angles in float64, cos/sin rounded to fp32.
    inverse = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.arange(seq, dtype=torch.float64)[:, None] * inverse[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    cos, sin = angles.cos().float(), angles.sin().float()
    causal = torch.ones(seq, seq, dtype=torch.bool).triu(1)
    fused_attention = hasattr(F, "scaled_dot_product_attention")

    def rms_norm(x, weight):
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def rotate(x):
        half = x.shape[-1] // 2
        return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin

    def project(x, weights):
        w, a, b = weights
        return F.linear(x, w) + F.linear(F.linear(x, a) * scaling, b)

    def attention(x, blk):
        q = project(x, blk["q_proj"]).view(batch, seq, heads, head_dim).transpose(1, 2)
        k = project(x, blk["k_proj"]).view(batch, seq, kv, head_dim).transpose(1, 2)
        v = project(x, blk["v_proj"]).view(batch, seq, kv, head_dim).transpose(1, 2)
        q, k = rotate(q), rotate(k)
        if kv != heads:  # grouped-query attention: each kv head serves heads / kv query heads (transformers' repeat_kv)
            k = k[:, :, None].expand(batch, kv, heads // kv, seq, head_dim).reshape(batch, heads, seq, head_dim)
            v = v[:, :, None].expand(batch, kv, heads // kv, seq, head_dim).reshape(batch, heads, seq, head_dim)
        if fused_attention:
            context = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # PyTorch < 2.0 (Debian 12's 1.13): the same math, unfused
            scores = (q @ k.transpose(-2, -1)) / head_dim ** 0.5
            context = torch.softmax(scores.masked_fill(causal, float("-inf")), dim=-1) @ v
        return project(context.transpose(1, 2).reshape(batch, seq, heads * head_dim), blk["o_proj"])

    def loss_of_batch():
        h = embeddings[ids]
        for blk in blocks:
            h = h + attention(rms_norm(h, blk["input_norm"]), blk)
            x = rms_norm(h, blk["post_norm"])
            h = h + project(F.silu(project(x, blk["gate_proj"])) * project(x, blk["up_proj"]), blk["down_proj"])
        logits = F.linear(rms_norm(h, final_norm), embeddings)
        vocab = logits.shape[-1]
        return F.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1))

    with torch.no_grad():
        loss0 = loss_of_batch().item()
    optimizer = torch.optim.AdamW(trainable, lr=float(meta["lr"]), weight_decay=float(meta["weight_decay"]))
    max_norm = float(meta["max_grad_norm"])
    print(json.dumps({"loss0": loss0, "torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas()}), flush=True)

    for line in sys.stdin:
        if line.strip() != "step":
            break
        start, cpu = time.perf_counter(), time.process_time()
        loss = loss_of_batch()
        value = loss.item()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, max_norm)
        optimizer.step()
        optimizer.zero_grad()
        ms, cpu_ms = (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000
        print(json.dumps({"ms": ms, "cpu_ms": cpu_ms, "loss": value}), flush=True)


if __name__ == "__main__":
    main()
