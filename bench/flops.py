#!/usr/bin/env python3
"""What fraction of this CPU's peak FLOP/s parallax's single-device runs reach (bench/peers.sh's
figures, from OUT/peers.json).

FLOPs per image are counted from the model: one forward is 2 x the multiply-accumulates of every
convolution and linear layer (torchvision's layout, the one parallax builds), training 3 x forward
(backward computes the input and the weight gradients, each as costly as forward). The peak is
cores x clock x FLOPs per cycle per core: fp32 = 2 FMA pipes x 16 lanes (512-bit) x 2, bf16 =
2 pipes x VDPBF16PS's 32 products x 2 (AMD Zen 5, which family 26 in /proc/cpuinfo is; pass
--fp32-per-cycle / --bf16-per-cycle for another core). The clock is measured: a chain of
dependent integer adds (one per cycle) compiled with cc and timed, since under a hypervisor the
TSC's 2.6 GHz is not the clock the cores run at; without cc, the TSC's (BogoMIPS / 2). A large
GEMM on 1 and 2 threads shows what the vector units reach in practice. Prints a table; writes
OUT/flops.json.
"""
import shutil
import subprocess
import tempfile
import argparse
import json
import os
import time

import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))


def training_flops_per_image(model_name, size):
    model = getattr(torchvision.models, model_name)(num_classes=10)
    macs = [0]

    def conv(m, inp, out):
        macs[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear(m, inp, out):
        macs[0] += out.numel() * m.in_features

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(conv)
        elif isinstance(m, torch.nn.Linear):
            m.register_forward_hook(linear)
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, size, size))
    return 3 * 2 * macs[0], macs[0]


def tsc_ghz():
    for line in open("/proc/cpuinfo"):
        if line.startswith("bogomips"):
            return float(line.split(":")[1]) / 2 / 1000
    return 0.0


CLOCK_C = r"""
#include <stdio.h>
#include <time.h>
int main(void) {
  struct timespec a, b;
  const long n = 1000000000L;
  unsigned long x = 0;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++)
    __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%f\n", 4.0 * n / ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9) / 1e9);
  return x == 0;
}
"""


def measured_ghz():
    """Cycles per second from 4 dependent adds per iteration (x86-64 only); 0 if it cannot run."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc or os.uname().machine != "x86_64":
        return 0.0
    with tempfile.TemporaryDirectory() as d:
        src, exe = os.path.join(d, "clock.c"), os.path.join(d, "clock")
        open(src, "w").write(CLOCK_C)
        if subprocess.run([cc, "-O1", src, "-o", exe], capture_output=True).returncode != 0:
            return 0.0
        return max(float(subprocess.run([exe], capture_output=True, text=True).stdout)
                   for _ in range(3))


def gemm_gflops(threads, dtype, n=2048, reps=5):
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=os.environ.get("MODEL", "resnet50"))
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--fp32-per-cycle", type=float, default=64)
    p.add_argument("--bf16-per-cycle", type=float, default=128)
    p.add_argument("--clock-ghz", type=float, default=0, help="default: measured (else the TSC's)")
    a = p.parse_args()
    clock_source = "given"
    if not a.clock_ghz:
        a.clock_ghz, clock_source = measured_ghz(), "measured (dependent adds)"
    if not a.clock_ghz:
        a.clock_ghz, clock_source = tsc_ghz(), "TSC (BogoMIPS / 2)"
    print(f"clock {a.clock_ghz:.3f} GHz, {clock_source}; TSC {tsc_ghz():.3f} GHz")
    out_dir = os.environ.get("OUT", os.path.join(HERE, "results"))
    flops, macs = training_flops_per_image(a.model, a.image_size)
    cores = os.cpu_count()
    result = {"model": a.model, "image_size": a.image_size, "forward_macs_per_image": macs,
              "training_flops_per_image": flops, "clock_ghz": a.clock_ghz,
              "clock_source": clock_source, "cores": cores,
              "rows": []}
    print(f"{a.model} {a.image_size}x{a.image_size}: forward {macs / 1e6:.1f} M MACs per image; "
          f"training 3 x 2 x MACs = {flops / 1e9:.3f} GFLOP per image")
    for name, per_cycle, dtype in (("fp32", a.fp32_per_cycle, torch.float32),
                                   ("bf16", a.bf16_per_cycle, torch.bfloat16)):
        for t in (1, 2):
            peak = t * a.clock_ghz * per_cycle
            gemm = gemm_gflops(t, dtype)
            result["rows"].append({"dtype": name, "threads": t, "peak_gflops": peak,
                                   "gemm_gflops": gemm})
            print(f"{name} {t} core(s): peak {t} x {a.clock_ghz:.3f} GHz x {per_cycle:.0f} = "
                  f"{peak:.1f} GFLOP/s; a 2048^3 GEMM reaches {gemm:.1f} ({gemm / peak:.0%})")
    peers = os.path.join(out_dir, "peers.json")
    if os.path.exists(peers):
        for row in json.load(open(peers))["rows"]:
            if not row["row"].startswith("single"):
                continue
            t = 1 if "1 thread" in row["row"] else 2
            for label, ips in row["best"].items():
                dtype = "bf16" if "bf16" in label else "fp32"
                peak = next(r["peak_gflops"] for r in result["rows"]
                            if r["dtype"] == dtype and r["threads"] == t)
                achieved = ips * flops / 1e9
                result.setdefault("runs", []).append(
                    {"row": row["row"], "contender": label, "images_per_sec": ips,
                     "gflops": achieved, "fraction_of_peak": achieved / peak})
                print(f"{row['row']:<18} {label:<22} {ips:7.1f} img/s = {achieved:6.1f} GFLOP/s "
                      f"= {achieved / peak:5.1%} of the {dtype} peak")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "flops.json.tmp"), "w") as f:
        json.dump(result, f, indent=1)
    os.replace(os.path.join(out_dir, "flops.json.tmp"), os.path.join(out_dir, "flops.json"))


if __name__ == "__main__":
    main()
