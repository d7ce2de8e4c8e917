#!/usr/bin/env python3
"""bench/memory.sh's table: measured memory per rank by kind beside the memory model's prediction
and the ZeRO rule, with the targets checked. Usage: memory_table.py RUNS_DIR OUT_JSON"""
import json
import os
import sys

MIB = 1024.0 * 1024.0
runs_dir, out_path = sys.argv[1], sys.argv[2]
# run name -> (plan file, plan label)
RUNS = [("single", "1", "single"), ("ddp-2", "2", "ddp nproc 2")]
RUNS += [(f"zero{s}-{n}", str(n), f"zero-{s} nproc {n}") for n in (2, 4) for s in (1, 2, 3)]
RUNS += [("model-2", "p2", "model nproc 2"), ("gpipe-2", "p2", "pipeline gpipe m8"),
         ("1f1b-2", "p2", "pipeline 1f1b m8")]


def load(path):
    with open(path) as f:
        return json.load(f)


plans = {k: load(os.path.join(runs_dir, f"plan-{k}.json"))["rows"] for k in ("1", "2", "4", "p2")}
rows, failures = [], []
print(f"{'run':10} {'rank':>4} {'params':>8} {'grads':>8} {'optim':>8} {'activ':>8} {'other':>7}"
      f" {'peak':>8} {'model':>8} {'err':>6} {'states':>8} {'rule':>8}   (MiB)")
for name, plan_key, label in RUNS:
    s = load(os.path.join(runs_dir, name, "summary.json"))
    psi = s["model"]["parameters"]
    details = s.get("strategy_details", {})
    largest_bucket = max([b["bytes"] for b in details.get("buckets", [])] or [0])
    preds = [r for r in plans[plan_key] if r["label"] == label]
    for rank in s["ranks"]:
        m = rank["memory_measured"]
        r = rank["rank"]
        pred = preds[0] if preds[0]["rank"] == -1 else preds[r]
        p = pred["predicted_memory"]
        err = (p["peak"] - m["peak"]) / m["peak"]
        states = m["parameters"] + m["gradients"] + m["optimizer_state"]
        rule = pred.get("zero_rule_bytes")
        print(f"{name:10} {r:>4} {m['parameters']/MIB:8.1f} {m['gradients']/MIB:8.1f}"
              f" {m['optimizer_state']/MIB:8.1f} {m['activations']/MIB:8.1f} {m['other']/MIB:7.1f}"
              f" {m['peak']/MIB:8.1f} {p['peak']/MIB:8.1f} {100*err:5.1f}% {states/MIB:8.1f}"
              f" {rule/MIB if rule else float('nan'):8.1f}")
        world = s["world_size"]
        copy = psi * 4
        checks = {"model within 5% of the measured peak": abs(err) <= 0.05}
        if name.startswith(("model", "gpipe", "1f1b")):
            share = rank["param_bytes"]
            for kind in ("parameters", "gradients", "optimizer_state"):
                checks[f"stage {kind} within 2% of its share"] = abs(m[kind] - share) <= 0.02 * share
        if name == "ddp-2":
            checks["ddp gradient peak <= 1.05x one copy"] = m["gradients"] <= 1.05 * copy
        if name.startswith("zero2"):
            checks["zero-2 gradients <= 1/N + largest bucket"] = (
                m["gradients"] <= 1.02 * (copy / world + largest_bucket))
        if name.startswith("zero3"):
            blocks = sorted(details.get("buckets", []), key=lambda b: -b["bytes"])[:2]
            two = sum(b["bytes"] for b in blocks)
            checks["zero-3 parameters <= 1/N + two blocks"] = (
                m["parameters"] <= 1.02 * (copy / world + two))
        for what, ok in checks.items():
            if not ok:
                failures.append(f"{name} rank {r}: {what}")
        rows.append({"run": name, "rank": r, "measured": m, "predicted": p, "error": err,
                     "model_states": states, "zero_rule_bytes": rule, "checks": checks})
# ZeRO-3 speed beside ddp and zero-1/2 (2 ranks), from the speed runs of the same script.
speed = {}
for line in open(os.path.join(runs_dir, "speed.txt")):
    name, ips = line.split()
    speed[name] = max(speed.get(name, 0.0), float(ips))  # best round
if speed:
    print("images/s, 2 ranks (best of the rounds):",
          ", ".join(f"{k} {v:.1f}" for k, v in speed.items()))
    ratio = speed["ddp"] / speed["zero3"]
    print(f"zero-3 step time / ddp's: {ratio:.3f} (target <= 1.15)")
    if ratio > 1.15:
        failures.append(f"zero-3 step time {ratio:.3f}x ddp's")
times = speed
with open(out_path + ".tmp", "w") as f:
    json.dump({"rows": rows, "images_per_sec_2_ranks": times, "failures": failures}, f, indent=1)
os.replace(out_path + ".tmp", out_path)
print("targets missed:" if failures else "every target met", *failures, sep="\n  ")
