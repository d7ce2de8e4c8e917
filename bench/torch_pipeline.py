#!/usr/bin/python3
"""PyTorch's pipeline peers for bench/peers.sh: torchvision's ResNet as a sequence of blocks (stem,
layer1.0 ... layer4.2, head), cut into 2 stages at --split-at (parallax's block names), random
data, SGD as parallax's bench. Prints one JSON line with images/s (batch / median step time).

--peer pipelining  torch.distributed.pipelining, one process per rank (gloo, 1 thread each):
                   PipelineStages and the --schedule's class with --micro-batches chunks:
                   gpipe ScheduleGPipe, 1f1b Schedule1F1B, interleaved-1f1b
                   ScheduleInterleaved1F1B (2 stages per rank: pieces r, r+2), zb-h1
                   ScheduleInterleavedZeroBubble (1 stage per rank, its ZB-H1), zb-v
                   ScheduleZBVZeroBubble (pieces r, 3-r). --split-at names the first block of
                   each piece after the first (1 cut, or 3 for 2 stages per rank). Each step
                   ends with a tiny all-reduce, as parallax's does (its loss and counts), so
                   both ranks' steps are timed alike.
--peer torchgpipe  torchgpipe.GPipe in one process, both partitions on the CPU
                   (devices=['cpu', 'cpu'], --threads intra-op threads in all).
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torchvision


class Head(torch.nn.Module):
    def __init__(self, fc):
        super().__init__()
        self.fc = fc

    def forward(self, x):
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


def blocks(model_name):
    """(names, modules) in parallax's block order."""
    m = getattr(torchvision.models, model_name)(num_classes=10)
    names, mods = ["stem"], [torch.nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool)]
    for layer in ("layer1", "layer2", "layer3", "layer4"):
        for i, b in enumerate(getattr(m, layer)):
            names.append(f"{layer}.{i}")
            mods.append(b)
    names.append("fc")
    mods.append(Head(m.fc))
    return names, mods


def batches(a):
    return [(torch.randn(a.batch_size, 3, a.image_size, a.image_size),
             torch.randint(0, 10, (a.batch_size,))) for _ in range(3)]


def sgd(params):
    return torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4)


SCHEDULES = {  # --schedule: (class in torch.distributed.pipelining, stages per rank, V layout)
    "gpipe": ("ScheduleGPipe", 1, False),
    "1f1b": ("Schedule1F1B", 1, False),
    "interleaved-1f1b": ("ScheduleInterleaved1F1B", 2, False),
    "zb-h1": ("ScheduleInterleavedZeroBubble", 1, False),
    "zb-v": ("ScheduleZBVZeroBubble", 2, True),
}


def pipelining_worker(rank, a, port, queue):
    import torch.distributed.pipelining as pp
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(0)
    names, mods = blocks(a.model)
    class_name, per_rank, v_shape = SCHEDULES[a.schedule]
    pieces = 2 * per_rank
    cuts = [0] + [names.index(n) for n in a.split_at.split(",")] + [len(mods)]
    assert len(cuts) == pieces + 1, f"--split-at needs {pieces - 1} cuts for {a.schedule}"
    mine = ([rank, pieces - 1 - rank] if v_shape else
            [c * 2 + rank for c in range(per_rank)])
    stage_mods = [torch.nn.Sequential(*mods[cuts[g]:cuts[g + 1]]) for g in mine]
    stages = [pp.PipelineStage(m, g, pieces, torch.device("cpu")) for m, g in zip(stage_mods, mine)]
    loss_fn = torch.nn.CrossEntropyLoss()
    kind = getattr(pp, class_name)
    schedule = (kind(stages[0], n_microbatches=a.micro_batches, loss_fn=loss_fn)
                if class_name in ("ScheduleGPipe", "Schedule1F1B")
                else kind(stages, n_microbatches=a.micro_batches, loss_fn=loss_fn))
    opt = sgd([p for m in stage_mods for p in m.parameters()])
    data = batches(a)
    sums = torch.zeros(3)
    times = []
    first, last = 0 in mine, pieces - 1 in mine
    for step in range(a.warmup + a.steps):
        x, y = data[step % len(data)]
        start = time.perf_counter()
        opt.zero_grad()
        losses = []
        schedule.step(*([x] if first else []), **({"target": y, "losses": losses} if last else {}))
        opt.step()
        if last:
            sums[0] = torch.stack(losses).sum().item()
        dist.all_reduce(sums)
        if step >= a.warmup:
            times.append(time.perf_counter() - start)
    if rank == 0:
        queue.put(statistics.median(times))
    dist.destroy_process_group()


def torchgpipe_median(a):
    from torchgpipe import GPipe
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    names, mods = blocks(a.model)
    cut = names.index(a.split_at)
    model = GPipe(torch.nn.Sequential(*mods), balance=[cut, len(mods) - cut],
                  devices=["cpu", "cpu"], chunks=a.micro_batches)
    opt = sgd(model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    data = batches(a)
    times = []
    for step in range(a.warmup + a.steps):
        x, y = data[step % len(data)]
        start = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        if step >= a.warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--peer", default="pipelining", choices=["pipelining", "torchgpipe"])
    p.add_argument("--model", default="resnet50")
    p.add_argument("--schedule", default="1f1b", choices=sorted(SCHEDULES))
    p.add_argument("--split-at", default="layer3.0")
    p.add_argument("--micro-batches", type=int, default=4)
    p.add_argument("--threads", type=int, default=1, help="per process (torchgpipe: in all)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    a = p.parse_args()
    if a.peer == "torchgpipe":
        median = torchgpipe_median(a)
        name = "torchgpipe"
    else:
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        queue = mp.get_context("spawn").Queue()
        mp.spawn(pipelining_worker, args=(a, port, queue), nprocs=2, join=True)
        median = queue.get()
        name = "torch.distributed.pipelining " + torch.__version__
    print(json.dumps({"framework": name, "peer": a.peer, "schedule": a.schedule,
                      "class": SCHEDULES[a.schedule][0] if a.peer == "pipelining" else "GPipe",
                      "micro_batches": a.micro_batches, "split_at": a.split_at,
                      "images_per_sec": a.batch_size / median, "step_time_s_median": median}))


if __name__ == "__main__":
    main()
