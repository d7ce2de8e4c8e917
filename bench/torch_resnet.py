#!/usr/bin/python3
"""PyTorch reference for bench/single_device.sh and bench/peers.sh: torchvision's ResNet trained
on random data.

Same settings as `parallax train` in the bench (SGD lr 0.05, momentum 0.9, weight decay 5e-4,
cross-entropy, train mode); inputs are made once, so the step itself is what is timed. As
PyTorch's CPU tuning guide advises, --precision bf16 runs forward and loss under
torch.autocast("cpu", bfloat16) and --channels-last puts model and inputs in NHWC.
Prints one JSON line.
"""
import contextlib
import argparse
import json
import os
import statistics
import time

import torch
import torchvision


def timed_steps(model, a, optimizer=None):
    """Trains model on random batches (made ahead) and returns the step times after warm-up.
    optimizer: built from the model's parameters; default SGD as parallax's bench."""
    torch.manual_seed(0)
    model.train()
    opt = optimizer or torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9,
                                       weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    device = torch.device(getattr(a, "device", "cpu"))
    fmt = torch.channels_last if getattr(a, "channels_last", False) else torch.contiguous_format
    batches = [(torch.randn(a.batch_size, 3, a.image_size, a.image_size,
                            device=device).contiguous(memory_format=fmt),
                torch.randint(0, 10, (a.batch_size,), device=device)) for _ in range(3)]
    precision = getattr(a, "precision", "fp32")
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) \
        if precision == "bf16" else contextlib.nullcontext
    times = []
    for step in range(a.warmup + a.steps):
        x, y = batches[step % len(batches)]
        start = time.perf_counter()
        opt.zero_grad()
        with autocast():
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        loss.item()  # one host sync per step, as parallax's step
        if step >= a.warmup:
            times.append(time.perf_counter() - start)
    return times


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="resnet50")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the model (default mode, inductor)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--channels-last", action="store_true")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    model = getattr(torchvision.models, a.model)(num_classes=10).to(a.device)
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if a.compile:
        model = torch.compile(model)
    median = statistics.median(timed_steps(model, a))
    print(json.dumps({
        "framework": "pytorch " + torch.__version__ + (" compile" if a.compile else " eager"),
        "precision": a.precision,
        "channels_last": a.channels_last,
        "device": a.device,
        "model": a.model,
        "threads": a.threads,
        "batch_size": a.batch_size,
        "images_per_sec": a.batch_size / median,
        "step_time_s_median": median,
        "allocator": "tcmalloc" if "tcmalloc" in os.environ.get("LD_PRELOAD", "") else "glibc",
    }))


if __name__ == "__main__":
    main()
