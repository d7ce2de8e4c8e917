#!/usr/bin/python3
"""PyTorch's data-parallel peers for bench/data_parallel.sh and bench/peers.sh: torchvision ResNet,
N processes on this machine (gloo), 1 thread each, random data, batch B per rank, SGD as
parallax's bench. Prints one JSON line with the global images/s (N * B / median step time).

--peer ddp        DistributedDataParallel (with --precision bf16: autocast, as the AMP docs show)
--peer zero-opt   DDP + torch.distributed.optim.ZeroRedundancyOptimizer (ZeRO-1)
--peer fsdp2      torch.distributed.fsdp.fully_shard on every bottleneck block, then the root
                  (FSDP2's recipe); --reshard-after-forward false keeps the gathered parameters
                  to backward (ZeRO-2's traffic), true frees them (ZeRO-3)
--peer fairscale  fairscale's OSS + ShardedDataParallel (the study's ZeRO-1)
"""
import argparse
import json
import os
import statistics

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torchvision

from torch_resnet import timed_steps


def sgd_kwargs():
    return dict(lr=0.05, momentum=0.9, weight_decay=5e-4)


def wrap(a, model):
    """The model as the peer trains it, and its optimizer (None: timed_steps' SGD)."""
    if a.peer == "ddp":
        return torch.nn.parallel.DistributedDataParallel(model), None
    if a.peer == "zero-opt":
        from torch.distributed.optim import ZeroRedundancyOptimizer
        model = torch.nn.parallel.DistributedDataParallel(model)
        return model, ZeroRedundancyOptimizer(model.parameters(),
                                              optimizer_class=torch.optim.SGD, **sgd_kwargs())
    if a.peer == "fsdp2":
        from torch.distributed.fsdp import fully_shard
        reshard = a.reshard_after_forward == "true"
        for name in ("layer1", "layer2", "layer3", "layer4"):
            for block in getattr(model, name):
                fully_shard(block, reshard_after_forward=reshard)
        fully_shard(model, reshard_after_forward=reshard)
        return model, torch.optim.SGD(model.parameters(), **sgd_kwargs())
    if a.peer == "fairscale":
        from fairscale.nn.data_parallel import ShardedDataParallel
        from fairscale.optim.oss import OSS
        optimizer = OSS(model.parameters(), optim=torch.optim.SGD, **sgd_kwargs())
        return ShardedDataParallel(model, optimizer), optimizer
    raise SystemExit(f"unknown --peer {a.peer}")


def worker(rank, a, port, queue):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", rank=rank, world_size=a.nproc)
    torch.manual_seed(0)  # the same initial replica on every rank
    model = getattr(torchvision.models, a.model)(num_classes=10)
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model, optimizer = wrap(a, model)
    times = timed_steps(model, a, optimizer)
    if rank == 0:
        queue.put(statistics.median(times))
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="resnet50")
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32, help="per rank")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--peer", default="ddp", choices=["ddp", "zero-opt", "fsdp2", "fairscale"])
    p.add_argument("--zero", action="store_true", help="the same as --peer zero-opt")
    p.add_argument("--reshard-after-forward", default="true", choices=["true", "false"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--channels-last", action="store_true")
    a = p.parse_args()
    if a.zero:
        a.peer = "zero-opt"
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    mp.spawn(worker, args=(a, port, queue), nprocs=a.nproc, join=True)
    median = queue.get()
    name = {"ddp": "pytorch-ddp", "zero-opt": "pytorch-ddp-zero", "fsdp2": "pytorch-fsdp2",
            "fairscale": "fairscale-oss-sdp"}[a.peer]
    print(json.dumps({"framework": name + " " + torch.__version__, "peer": a.peer,
                      "nproc": a.nproc, "precision": a.precision,
                      "reshard_after_forward": a.reshard_after_forward,
                      "images_per_sec": a.nproc * a.batch_size / median,
                      "step_time_s_median": median,
                      "allocator": "tcmalloc" if "tcmalloc" in os.environ.get("LD_PRELOAD", "")
                      else "glibc"}))


if __name__ == "__main__":
    main()
