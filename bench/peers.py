#!/usr/bin/env python3
"""Driver of bench/peers.sh: every row's contenders measured side by side in one run.

Each contender trains ResNet-50 (MODEL) on 32x32 random data, batch 32 per rank (single device and
pipelines: 32 in all), SGD lr 0.05 momentum 0.9 weight decay 5e-4, WARMUP untimed steps then STEPS
timed, tcmalloc preloaded for all. Rounds alternate the contenders so that machine noise hits all
alike; each figure is the best round. A row prints every images/s figure and parallax's ratio
(its best configuration) to the row's best peer. Writes OUT/peers.json.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
DEBIAN_PY = "/usr/bin/python3"


def env_int(name, default):
    return int(os.environ.get(name, default))


STEPS, WARMUP, ROUNDS = env_int("STEPS", 20), env_int("WARMUP", 5), env_int("ROUNDS", 2)
MODEL = os.environ.get("MODEL", "resnet50")


def parallax(build, strategy="single", nproc=1, threads=1, extra=()):
    batch = 32 * nproc if strategy in ("ddp", "zero") else 32

    def run(tmp):
        out = os.path.join(tmp, "run")
        shutil.rmtree(out, ignore_errors=True)
        cmd = [os.path.join(build, "parallax"), "train", "--model", MODEL, "--dataset", "synthetic",
               "--synthetic-kind", "random", "--image-size", "32", "--synthetic-train", "2048",
               "--synthetic-test", "32", "--batch-size", str(batch), "--steps",
               str(WARMUP + STEPS), "--timing-warmup", str(WARMUP), "--threads", str(threads),
               "--lr", "0.05", "--lr-schedule", "constant", "--no-augment", "--no-checkpoint",
               "--strategy", strategy, "--nproc", str(nproc), "--out", out, *extra]
        r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, LD_PRELOAD=TCMALLOC))
        if r.returncode != 0:
            return None, (r.stderr or r.stdout).strip().splitlines()[-1:]
        s = json.load(open(os.path.join(out, "summary.json")))
        return s["images_per_sec"], {"peak_bytes_rank0": s["ranks"][0].get("memory_measured", {}).get("peak")}
    return run


def python_peer(script, args, py=sys.executable):
    def run(tmp):
        r = subprocess.run([py, os.path.join(HERE, script), "--model", MODEL, "--steps", str(STEPS),
                            "--warmup", str(WARMUP), *args], capture_output=True, text=True,
                           env=dict(os.environ, LD_PRELOAD=TCMALLOC), cwd=HERE)
        lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
        if r.returncode != 0 or not lines:
            err = [l for l in (r.stderr or "").splitlines() if l.strip()]
            return None, err[-1:] if err else ["no output"]
        return json.loads(lines[-1])["images_per_sec"], {}
    return run


def have_debian_torch():
    return subprocess.run([DEBIAN_PY, "-c", "import torch, torchvision"],
                          capture_output=True).returncode == 0


def rows(build, only):
    bf16 = ["--precision", "bf16", "--channels-last"]
    r = []
    for t in (1, 2):
        peers = {f"pytorch-2 fp32": python_peer("torch_resnet.py", ["--threads", str(t)]),
                 f"pytorch-2 bf16+cl": python_peer("torch_resnet.py", ["--threads", str(t), *bf16])}
        if have_debian_torch():
            peers["pytorch-1.13 fp32"] = python_peer("torch_resnet.py", ["--threads", str(t)], DEBIAN_PY)
        r.append(("single", f"single {t} thread{'s' if t > 1 else ''}",
                  {"parallax fp32": parallax(build, threads=t),
                   "parallax bf16+cl": parallax(build, threads=t, extra=bf16)}, peers))
    ddp = ["--nproc", "2", "--threads", "1"]
    r.append(("ddp", "ddp 2x1 fp32", {"parallax ddp": parallax(build, "ddp", 2)},
              {"pytorch-2 DDP": python_peer("torch_ddp.py", ddp)}))
    r.append(("ddp", "ddp 2x1 bf16+cl", {"parallax ddp bf16+cl": parallax(build, "ddp", 2, extra=bf16)},
              {"pytorch-2 DDP bf16+cl": python_peer("torch_ddp.py", ddp + bf16)}))
    r.append(("zero", "zero-1 2x1", {"parallax zero-1": parallax(build, "zero", 2, extra=["--zero-stage", "1"])},
              {"ZeroRedundancyOptimizer": python_peer("torch_ddp.py", ddp + ["--peer", "zero-opt"]),
               "fairscale OSS+SDP": python_peer("torch_ddp.py", ddp + ["--peer", "fairscale"])}))
    r.append(("zero", "zero-2 2x1", {"parallax zero-2": parallax(build, "zero", 2, extra=["--zero-stage", "2"])},
              {"FSDP2 reshard=false": python_peer("torch_ddp.py", ddp + ["--peer", "fsdp2", "--reshard-after-forward", "false"])}))
    r.append(("zero", "zero-3 2x1", {"parallax zero-3": parallax(build, "zero", 2, extra=["--zero-stage", "3"])},
              {"FSDP2 reshard=true": python_peer("torch_ddp.py", ddp + ["--peer", "fsdp2", "--reshard-after-forward", "true"])}))
    for sched in ("gpipe", "1f1b"):
        cut = ["--split-at", "layer3.0", "--micro-batches", "4"]
        peers = {f"pipelining {sched}": python_peer("torch_pipeline.py", ["--schedule", sched, *cut])}
        if sched == "gpipe":
            peers["torchgpipe (1 process, 2 threads)"] = python_peer(
                "torch_pipeline.py", ["--peer", "torchgpipe", "--threads", "2", *cut])
        r.append(("pipeline", f"pipeline {sched} 2 stages m4",
                  {f"parallax {sched}": parallax(build, "pipeline", 2, extra=["--pipeline-schedule", sched, *cut])},
                  peers))
    return [x for x in r if only == {"all"} or x[0] in only]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build-torch2")
    a = p.parse_args()
    only = set(os.environ.get("ROWS", "all").split(","))
    table = rows(a.build, only)
    figures = {name: {} for _, name, _, _ in table}
    notes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(ROUNDS):
            for _, name, ours, peers in table:
                for label, run in {**ours, **peers}.items():
                    ips, info = run(tmp)
                    if ips is None:
                        notes[f"{name} / {label}"] = info
                        print(f"round {rnd + 1}: {name} / {label}: failed: {' '.join(info)}", file=sys.stderr)
                        continue
                    figures[name].setdefault(label, []).append(ips)
                    print(f"round {rnd + 1}: {name:<28} {label:<36} {ips:8.1f} img/s", file=sys.stderr)
    result = {"model": MODEL, "steps": STEPS, "warmup": WARMUP, "rounds": ROUNDS, "rows": []}
    print(f"\n{'row':<28} {'contender':<36} {'img/s (best)':>12}  rounds")
    for _, name, ours, peers in table:
        best = {k: max(v) for k, v in figures[name].items()}
        ours_best = max((best[k] for k in ours if k in best), default=0)
        peer_best = max((best[k] for k in peers if k in best), default=0)
        for label in list(ours) + list(peers):
            runs = figures[name].get(label)
            shown = f"{best[label]:12.1f}" if runs else f"{'failed':>12}"
            print(f"{name:<28} {label:<36} {shown}  {' '.join(f'{x:.1f}' for x in runs or [])}")
        ratio = ours_best / peer_best if peer_best else None
        print(f"{name:<28} {'=> parallax / best peer':<36} {ratio:12.2f}x" if ratio else
              f"{name:<28} {'=> parallax / best peer':<36} {'n/a':>12}")
        result["rows"].append({"row": name, "figures": figures[name], "best": best,
                               "parallax_over_best_peer": ratio})
    # Scaling on the same two cores: 2 ranks x 1 thread against 1 rank x 2 threads.
    def fig(row, label):
        return max(figures.get(row, {}).get(label, [0]))
    for who, ddp_label, single_label in (("parallax", "parallax ddp", "parallax fp32"),
                                         ("pytorch-2", "pytorch-2 DDP", "pytorch-2 fp32")):
        d, s1 = fig("ddp 2x1 fp32", ddp_label), fig("single 2 threads", single_label)
        if d and s1:
            result.setdefault("ddp_2x1_over_single_1x2", {})[who] = d / s1
            print(f"{who}: ddp 2 ranks x 1 thread / single 1 rank x 2 threads = {d / s1:.2f}")
    result["failures"] = notes
    out_dir = os.environ.get("OUT", os.path.join(HERE, "results"))
    os.makedirs(out_dir, exist_ok=True)
    tmp_path = os.path.join(out_dir, "peers.json.tmp")
    with open(tmp_path, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp_path, os.path.join(out_dir, "peers.json"))
    print(f"wrote {os.path.join(out_dir, 'peers.json')}")


if __name__ == "__main__":
    main()
