#!/usr/bin/env python3
"""Checkpoint save and load per rank, sharded against consolidated, side by side in one run
(bench/checkpoint_io.sh): ResNet-50 under ZeRO-3 on 4 ranks (1 thread each), 32x32 random data,
one step per epoch. For each format and round: a 1-epoch run (its save at the epoch's end), then
--resume for a second epoch (its load, then its save). Each rank's figures come from the resumed
run's summary.json (ranks[r].checkpoint: save_s, load_s, load_peak_bytes, load_state_bytes, as
the allocator sized them); the first run's save_s too. Prints per rank the best round of each
format and the ratios. Writes bench/results/checkpoint_io.json.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(args, env):
    r = subprocess.run(args, env=env, capture_output=True, text=True, errors="replace")
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")


def measure(binary, fmt, nproc, model, tmp, env):
    out = os.path.join(tmp, fmt)
    shutil.rmtree(out, ignore_errors=True)
    base = [binary, "train", "--model", model, "--image-size", "32", "--synthetic-train",
            str(2 * nproc), "--synthetic-test", str(2 * nproc), "--batch-size", str(2 * nproc),
            "--strategy", "zero", "--zero-stage", "3", "--nproc", str(nproc), "--threads", "1",
            "--timing-warmup", "0", "--no-trace", "--checkpoint-format", fmt]
    run(base + ["--epochs", "1", "--out", out], env)
    first = json.load(open(os.path.join(out, "summary.json")))
    run([binary, "train", "--resume", out, "--epochs", "2"], env)
    second = json.load(open(os.path.join(out, "summary.json")))
    ranks = []
    for a, b in zip(first["ranks"], second["ranks"]):
        c = b["checkpoint"]
        ranks.append({"save_s": min(a["checkpoint"]["save_s"], c["save_s"]),
                      "load_s": c["load_s"], "load_peak_bytes": c["load_peak_bytes"],
                      "load_state_bytes": c["load_state_bytes"]})
    return ranks


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build-torch2"
    binary = os.path.join(build, "parallax")
    rounds, nproc = int(os.environ.get("ROUNDS", "2")), int(os.environ.get("NPROC", "4"))
    model = os.environ.get("MODEL", "resnet50")
    env = dict(os.environ)
    best = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as tmp:
        for rnd in range(rounds):
            for fmt in ("consolidated", "sharded"):  # alternated, round by round
                ranks = measure(binary, fmt, nproc, model, tmp, env)
                for r, f in enumerate(ranks):
                    print(f"round {rnd + 1}: {fmt:<12} rank {r}: save {f['save_s']:.3f} s, "
                          f"load {f['load_s']:.3f} s, load peak {f['load_peak_bytes'] / 2**20:.1f} "
                          f"MiB for {f['load_state_bytes'] / 2**20:.1f} MiB kept", flush=True)
                    kept = best.setdefault(fmt, [None] * len(ranks))
                    if kept[r] is None:
                        kept[r] = dict(f)
                    else:
                        for k in ("save_s", "load_s"):
                            kept[r][k] = min(kept[r][k], f[k])
    print(f"\n{model} ZeRO-3 on {nproc} ranks, best of {rounds} rounds per rank")
    print(f"{'rank':<5} {'format':<13} {'save s':>8} {'load s':>8} {'load peak MiB':>14} "
          f"{'kept MiB':>9} {'peak/kept':>9}")
    for r in range(nproc):
        for fmt in ("consolidated", "sharded"):
            f = best[fmt][r]
            print(f"{r:<5} {fmt:<13} {f['save_s']:8.3f} {f['load_s']:8.3f} "
                  f"{f['load_peak_bytes'] / 2**20:14.1f} {f['load_state_bytes'] / 2**20:9.1f} "
                  f"{f['load_peak_bytes'] / f['load_state_bytes']:9.2f}")
        c, s = best["consolidated"][r], best["sharded"][r]
        print(f"{r:<5} {'=> sharded /':<13} {s['save_s'] / c['save_s']:7.2f}x "
              f"{s['load_s'] / c['load_s']:7.2f}x {s['load_peak_bytes'] / c['load_peak_bytes']:13.2f}x")
    out_dir = os.environ.get("OUT", "bench/results")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "checkpoint_io.json"), "w") as f:
        json.dump({"model": model, "strategy": "zero-3", "ranks": nproc, "rounds": rounds,
                   "best": best}, f, indent=1)
    print(f"wrote {os.path.join(out_dir, 'checkpoint_io.json')}")


if __name__ == "__main__":
    main()
