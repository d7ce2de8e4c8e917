#!/usr/bin/python3
"""PyTorch reference for bench/data_parallel.sh: torchvision ResNet under DistributedDataParallel,
with --zero under ZeroRedundancyOptimizer (SGD state sharded over ranks, ZeRO-1).

N processes on this machine (gloo), 1 thread each, random data, batch B per rank, SGD as
parallax's bench. Prints one JSON line with the global images/s (N * B / median step time).
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


def worker(rank, a, port, queue):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", rank=rank, world_size=a.nproc)
    torch.manual_seed(0)  # the same initial replica on every rank
    model = torch.nn.parallel.DistributedDataParallel(
        getattr(torchvision.models, a.model)(num_classes=10))
    optimizer = None
    if a.zero:
        from torch.distributed.optim import ZeroRedundancyOptimizer
        optimizer = ZeroRedundancyOptimizer(model.parameters(), optimizer_class=torch.optim.SGD,
                                            lr=0.05, momentum=0.9, weight_decay=5e-4)
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
    p.add_argument("--zero", action="store_true", help="ZeroRedundancyOptimizer around SGD")
    a = p.parse_args()
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    mp.spawn(worker, args=(a, port, queue), nprocs=a.nproc, join=True)
    median = queue.get()
    name = "pytorch-ddp-zero " if a.zero else "pytorch-ddp "
    print(json.dumps({"framework": name + torch.__version__, "nproc": a.nproc,
                      "images_per_sec": a.nproc * a.batch_size / median,
                      "step_time_s_median": median,
                      "allocator": "tcmalloc" if "tcmalloc" in os.environ.get("LD_PRELOAD", "")
                      else "glibc"}))


if __name__ == "__main__":
    main()
