#!/usr/bin/env python3
"""PyTorch's own tensor parallelism on parallax's gpt, for bench/tp_peers.sh: DTensor's
parallelize_module over N gloo ranks on the CPU, 1 thread each (as parallax's --threads 1 per
rank), the same model as bench/torch_gpt.py's (GPT-2's layout, tanh GELU, tied head, GPT-2's
initialisation from the same seed).

The split, Megatron's, written as torchtitan's Llama plan writes it:
  - attention: the fused QKV projection becomes three Linears q, k, v (c_attn's rows 0:d, d:2d,
    2d:3d: the same model), each ColwiseParallel, so that a rank holds whole heads (n_head / N of
    them, viewed with -1 heads); c_proj RowwiseParallel. A PrepareModuleInput on the attention
    module makes its input one DTensor that q, k and v share, so its gradient is all-reduced (or
    reduce-scattered) once, not once per projection;
  - MLP: c_fc ColwiseParallel, mlp_proj RowwiseParallel;
  - token embedding RowwiseParallel (split by vocabulary), the LM head ColwiseParallel on the same
    weight (re-tied after parallelize_module), its logits left sharded by vocabulary for
    loss_parallel's cross-entropy;
  - --sequence-parallel: LayerNorms SequenceParallel, the residual stream sharded along the
    sequence (Shard(1)): the embedding and each RowwiseParallel reduce-scatter into it, the
    attention, the MLP and the head all-gather out of it; the learned position embedding is a
    replicated DTensor whose output each rank takes its sequence shard of.
  Without sequence parallelism the position embedding and the LayerNorms stay plain replicated
  tensors (their gradients are equal on every rank, as Megatron's); with it DTensor leaves the
  LayerNorms' gradients Partial (each rank's tokens' share), summed here in one all-reduce of one
  flat buffer before clipping (left alone, the clip and AdamW would see each rank's share: the
  gradient norm is then off by 2e-4 relative on gpt-mini). Gradient clipping is
  Megatron's: squared norms of the sharded gradients summed over the group in one all-reduce,
  the replicated ones counted once. AdamW is torch.optim.AdamW, fused (--adamw to change).

Modes:
  throughput (default): random tokens (the same on every rank), WARMUP untimed then STEPS timed
      steps; prints one JSON line with tokens/s (batch x context over the median step).
  --init FILE --batches FILE: the state dict (Hugging Face GPT2LMHeadModel's names, as parallax's
      --init-from reads it) to start from, and the batches ([steps, batch, context + 1] int64
      tokens) to train on; prints one JSON line with each step's loss (before its update) and
      gradient norm (before clipping).
  --nproc 1: the same model on one process without DTensor (the reference the check quotes).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_gpt import SIZES, Gpt, spawn_ranks  # noqa: E402

VOCAB = 65


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.head_dim = d // heads
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.c_proj = nn.Linear(d, d)

    def forward(self, x):
        b, t = x.shape[0], x.shape[1]
        # Under TP each projection's output holds this rank's heads: -1 heads, n_head / N.
        q, k, v = (lin(x).view(b, t, -1, self.head_dim).transpose(1, 2)
                   for lin in (self.q, self.k, self.v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, -1))


class Mlp(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c_fc, self.c_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(d), Attention(d, heads)
        self.ln_2, self.mlp = nn.LayerNorm(d), Mlp(d)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TpGpt(nn.Module):
    """bench/torch_gpt.py's Gpt with c_attn as three Linears and the head as a Linear module
    (its weight the token embedding's), so that DTensor's styles apply to each."""

    def __init__(self, layers, heads, d, context, vocab):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.h = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for block in self.h:
            x = block(x)
        return self.head(self.ln_f(x))


def hf_state(gpt):
    """A torch_gpt.Gpt's weights as Hugging Face GPT2LMHeadModel's state dict (Conv1D weights
    [in, out]; lm_head the token embedding's tensor itself), the file parallax's --init-from
    reads."""
    s = {"transformer.wte.weight": gpt.wte.weight, "transformer.wpe.weight": gpt.wpe.weight}
    for i, b in enumerate(gpt.h):
        p = f"transformer.h.{i}."
        for ours, theirs in (("ln_1", "ln_1"), ("ln_2", "ln_2")):
            s[p + theirs + ".weight"] = getattr(b, ours).weight
            s[p + theirs + ".bias"] = getattr(b, ours).bias
        for ours, theirs in (("c_attn", "attn.c_attn"), ("c_proj", "attn.c_proj"),
                             ("c_fc", "mlp.c_fc"), ("mlp_proj", "mlp.c_proj")):
            s[p + theirs + ".weight"] = getattr(b, ours).weight.t().contiguous()
            s[p + theirs + ".bias"] = getattr(b, ours).bias
    s["transformer.ln_f.weight"], s["transformer.ln_f.bias"] = gpt.ln_f.weight, gpt.ln_f.bias
    s["lm_head.weight"] = s["transformer.wte.weight"]
    return {k: v.detach() for k, v in s.items()}


def load_hf_state(model, s):
    """Loads a GPT2LMHeadModel state dict into a TpGpt (before it is parallelised)."""
    with torch.no_grad():
        model.wte.weight.copy_(s["transformer.wte.weight"])
        model.wpe.weight.copy_(s["transformer.wpe.weight"])
        d = model.wte.weight.size(1)
        for i, b in enumerate(model.h):
            p = f"transformer.h.{i}."
            for ln in ("ln_1", "ln_2"):
                getattr(b, ln).weight.copy_(s[p + ln + ".weight"])
                getattr(b, ln).bias.copy_(s[p + ln + ".bias"])
            w, bias = s[p + "attn.c_attn.weight"].t(), s[p + "attn.c_attn.bias"]
            for j, lin in enumerate((b.attn.q, b.attn.k, b.attn.v)):
                lin.weight.copy_(w[j * d:(j + 1) * d])
                lin.bias.copy_(bias[j * d:(j + 1) * d])
            for lin, name in ((b.attn.c_proj, "attn.c_proj"), (b.mlp.c_fc, "mlp.c_fc"),
                              (b.mlp.c_proj, "mlp.c_proj")):
                lin.weight.copy_(s[p + name + ".weight"].t())
                lin.bias.copy_(s[p + name + ".bias"])
        model.ln_f.weight.copy_(s["transformer.ln_f.weight"])
        model.ln_f.bias.copy_(s["transformer.ln_f.bias"])


def initial_state(model_name, seed=0):
    """bench/torch_gpt.py's Gpt from `seed` (its GPT-2 initialisation), as an HF state dict."""
    layers, heads, d, context = SIZES[model_name]
    torch.manual_seed(seed)
    return hf_state(Gpt(layers, heads, d, context, VOCAB))


def parallelize(model, mesh, sp):
    """DTensor's tensor parallelism over `mesh`, with sequence parallelism where `sp`."""
    from torch.distributed.tensor import Replicate, Shard, distribute_module
    from torch.distributed.tensor.parallel import (ColwiseParallel, PrepareModuleInput,
                                                   RowwiseParallel, SequenceParallel,
                                                   parallelize_module)
    residual = Shard(1) if sp else Replicate()  # the residual stream's layout between layers
    for block in model.h:
        plan = {
            "attn": PrepareModuleInput(input_layouts=(residual,),
                                       desired_input_layouts=(Replicate(),)),
            "attn.q": ColwiseParallel(), "attn.k": ColwiseParallel(),
            "attn.v": ColwiseParallel(), "attn.c_proj": RowwiseParallel(output_layouts=residual),
            "mlp": PrepareModuleInput(input_layouts=(residual,),
                                      desired_input_layouts=(Replicate(),)),
            "mlp.c_fc": ColwiseParallel(), "mlp.c_proj": RowwiseParallel(output_layouts=residual),
        }
        if sp:
            plan.update({"ln_1": SequenceParallel(), "ln_2": SequenceParallel()})
        parallelize_module(block, mesh, plan)
    plan = {"wte": RowwiseParallel(input_layouts=Replicate(), output_layouts=residual),
            "head": ColwiseParallel(input_layouts=residual, output_layouts=Shard(-1),
                                    use_local_output=False)}
    if sp:
        plan["ln_f"] = SequenceParallel()
    parallelize_module(model, mesh, plan)
    model.head.weight = model.wte.weight  # parallelize_module made each its own Parameter
    if sp:
        # A replicated position embedding; each rank adds its tokens' rows to its sequence shard
        # (the gradient all-gathered back to the whole table in backward).
        from torch.distributed.tensor import DTensor
        distribute_module(
            model.wpe, mesh,
            input_fn=lambda mod, inputs, m: tuple(DTensor.from_local(i, m, [Replicate()],
                                                                     run_check=False)
                                                  for i in inputs),
            output_fn=lambda mod, out, m: out.redistribute(m, [Shard(0)]).to_local())
    return model


def reduce_partial_grads(params, group):
    """Sums over the group the gradients DTensor leaves as Partial (sequence parallelism's
    LayerNorms: each rank's holds its tokens' share) in one all-reduce of one flat buffer, as
    Megatron does, and makes them Replicate."""
    import torch.distributed as dist
    from torch.distributed.tensor import DTensor, Replicate
    partial = [p for p in params if isinstance(p.grad, DTensor) and
               any(pl.is_partial() for pl in p.grad.placements)]
    if not partial:
        return
    local = [p.grad.to_local() for p in partial]
    flat = torch.cat([g.reshape(-1) for g in local])
    dist.all_reduce(flat, group=group)
    at = 0
    for p, g in zip(partial, local):
        p.grad = DTensor.from_local(flat[at:at + g.numel()].view_as(g), p.grad.device_mesh,
                                    [Replicate()], run_check=False)
        at += g.numel()


def clip_grad_norm(params, max_norm, group=None):
    """Megatron's clip: the sharded gradients' squared norms summed over the group (one
    all-reduce), the replicated ones (the same on every rank) counted once. Returns the norm."""
    import torch.distributed as dist
    from torch.distributed.tensor import DTensor
    sharded, replicated = [], []
    for p in params:
        if p.grad is None:
            continue
        g = p.grad
        if isinstance(g, DTensor):
            (sharded if any(pl.is_shard() for pl in g.placements) else replicated).append(
                g.to_local())
        else:
            replicated.append(g)
    sq = torch.zeros(2)
    if sharded:
        sq[0] = torch.stack(torch._foreach_norm(sharded)).square().sum()
    if replicated:
        sq[1] = torch.stack(torch._foreach_norm(replicated)).square().sum()
    if group is not None and dist.is_initialized():
        part = sq[:1].clone()
        dist.all_reduce(part, group=group)
        sq[0] = part[0]
    total = sq.sum().sqrt()
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        torch._foreach_mul_(sharded + replicated, coef)
    return total


def adamw(model, lr, impl):
    """torch.optim.AdamW (betas 0.9/0.99, decay 0.1 on matrices), fused by default (one kernel per
    group, as parallax's); DTensor and plain parameters in separate groups, as its foreach and
    fused paths take no mix of the two."""
    from torch.distributed.tensor import DTensor
    groups = {}
    for p in model.parameters():
        key = (p.dim() >= 2, isinstance(p, DTensor))
        groups.setdefault(key, []).append(p)
    return torch.optim.AdamW([{"params": ps, "weight_decay": 0.1 if decay else 0.0}
                              for (decay, _), ps in groups.items()], lr=lr, betas=(0.9, 0.99),
                             **({"fused": True} if impl == "fused" else
                                {"foreach": impl == "foreach"}))


def train(a, rank=0, world=1):
    """Trains the model (on `world` ranks with DTensor where world > 1); returns the step times,
    each step's loss and its gradient's norm (before clipping)."""
    layers, heads, d, context = SIZES[a.model]
    torch.manual_seed(0)
    model = TpGpt(layers, heads, d, context, VOCAB)
    load_hf_state(model, torch.load(a.init) if a.init else initial_state(a.model))
    group = None
    if world > 1:
        from torch.distributed.device_mesh import init_device_mesh
        mesh = init_device_mesh("cpu", (world,))
        parallelize(model, mesh, a.sequence_parallel)
        group = mesh.get_group()
    if a.batches:
        batches = torch.load(a.batches)
        steps, warmup = batches.size(0), 0
    else:
        g = torch.Generator().manual_seed(0)  # every TP rank trains on the same batch
        batches = torch.randint(0, VOCAB, (1, a.batch_size, context + 1), generator=g)
        steps, warmup = a.steps, a.warmup
    opt = adamw(model, 1e-3, a.adamw)
    params = list(model.parameters())
    if world > 1:
        from torch.distributed.tensor.parallel import loss_parallel
        loss_context = loss_parallel
    else:
        import contextlib
        loss_context = contextlib.nullcontext
    times, losses, norms = [], [], []
    for i in range(warmup + steps):
        tokens = batches[i % batches.size(0)]
        x, y = tokens[:, :-1], tokens[:, 1:]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        with loss_context():
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(0, 1))
            loss.backward()
        if group is not None:
            reduce_partial_grads(params, group)
        norm = clip_grad_norm(params, a.grad_clip, group)
        opt.step()
        value = (loss.to_local() if hasattr(loss, "to_local") else loss).item()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
            losses.append(value)
            norms.append(norm.item())
    return times, losses, norms, context


def worker(rank, a, port, queue):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", rank=rank, world_size=a.nproc)
    result = train(a, rank, a.nproc)
    if rank == 0:
        queue.put(result)
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="gpt-mini", choices=sorted(SIZES))
    p.add_argument("--nproc", type=int, default=2, help="TP ranks (1: one process, no DTensor)")
    p.add_argument("--sequence-parallel", action="store_true")
    p.add_argument("--threads", type=int, default=1, help="per rank")
    p.add_argument("--batch-size", type=int, default=12, help="the global batch")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--adamw", default="fused", choices=["fused", "foreach", "for-loop"])
    p.add_argument("--init", default="", help="HF GPT2LMHeadModel state dict to start from")
    p.add_argument("--batches", default="", help="[steps, batch, context + 1] tokens to train on")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.nproc > 1:
        times, losses, norms, context = spawn_ranks(worker, a)
    else:
        times, losses, norms, context = train(a)
    median = statistics.median(times)
    batch = a.batch_size if not a.batches else torch.load(a.batches).size(1)
    print(json.dumps({"framework": "pytorch-dtensor-tp " + torch.__version__, "model": a.model,
                      "nproc": a.nproc, "sequence_parallel": a.sequence_parallel,
                      "threads": a.threads, "tokens_per_sec": batch * context / median,
                      "step_time_s_median": median, "losses": losses,
                      "grad_norms": norms}))


if __name__ == "__main__":
    main()
