#!/usr/bin/python3
"""The schedules part of bench/pipeline.sh: reads its runs' summaries (parallax) and JSON lines
(torch.distributed.pipelining), prints one row per schedule and micro-batch count, checks the
zero-bubble issue's targets, and writes the figures as JSON.

Usage: pipeline_schedules.py RUNS_DIR OUT.json CUT2 CUT4 M...
Per row: images/s; the measured bubble (per rank, idle over the slowest rank's pass, averaged);
its closed-form theory (F = I = W, a step that ends with a sync); the theory from this run's
profiled F, B, I, W times per rank and chunk, played out by parallax's schedule simulator with
free transfers (the zero-bubble paper's method); the peak activation memory (the larger of the two
ranks', from the allocator) and the micro-batch chunks held."""
import json
import os
import sys

SCHEDULES = ["gpipe", "1f1b", "interleaved-1f1b", "zb-h1", "zb-h2", "zb-v"]
TORCH = {"1f1b": "Schedule1F1B", "interleaved-1f1b": "ScheduleInterleaved1F1B",
         "zb-h1": "ScheduleInterleavedZeroBubble", "zb-v": "ScheduleZBVZeroBubble"}


def main():
    runs, out, cut2, cut4, micro = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
    rows = {}
    for m in map(int, micro):
        for s in SCHEDULES:
            path = f"{runs}/s_{s}_{m}/summary.json"
            if os.path.exists(f"{runs}/s_{s}_{m}.refused"):
                rows[(s, m)] = None  # interleaved needs M a multiple of the ranks
                continue
            if not os.path.exists(path):
                sys.exit(f"bench: no summary for {s} M={m}: the run did not finish")
            summ = json.load(open(path))
            d = summ["strategy_details"]
            ranks = d["ranks"]
            t = f"{runs}/t_{s}_{m}.json"
            peer = json.loads(open(t).read().strip().splitlines()[-1]) if os.path.exists(t) else None
            rows[(s, m)] = {
                "schedule": s, "micro_batches": m, "images_per_sec": summ["images_per_sec"],
                "bubble": d["bubble_fraction"], "theory": d["bubble_fraction_theory"],
                "theory_profiled": d["bubble_fraction_profiled"],
                "peak_activation_bytes": max(r["peak_activation_bytes"] for r in ranks),
                "held": [r["held_micro_batches"] for r in ranks],
                "virtual_stages": d["virtual_stages"], "split_at": d["split_at"],
                "ranks": ranks,
                "torch": None if peer is None else {"class": peer.get("class", TORCH.get(s)),
                                                    "images_per_sec": peer.get("images_per_sec"),
                                                    "refused": peer.get("refused")},
            }
    f = lambda v, fmt: "-" if v is None else format(v, fmt)
    print(f"cut: {cut2} (2 pieces), {cut4} (4 pieces: interleaved-1f1b, zb-v)")
    print(f"{'schedule':<17} {'M':>3} {'img/s':>7} {'bubble':>7} {'theory':>7} {'profiled':>8} "
          f"{'gap':>6} {'act MiB':>8} {'held':>6} {'torch img/s':>12} {'x torch':>8}")
    refusals = []
    for (s, m), r in rows.items():
        if r is None:
            print(f"{s:<17} {m:>3}  refused: {m} micro-batches is not a multiple of 2 ranks "
                  "(as in Megatron and torch.distributed.pipelining)")
            continue
        tp = r["torch"]["images_per_sec"] if r["torch"] else None
        if r["torch"] and r["torch"]["refused"]:
            refusals.append(f"{TORCH.get(s)} M={m} refused: {r['torch']['refused']}")
        r["x_torch"] = r["images_per_sec"] / tp if tp else None
        r["gap"] = r["bubble"] - r["theory_profiled"]
        print(f"{s:<17} {m:>3} {r['images_per_sec']:7.1f} {r['bubble']:7.3f} {r['theory']:7.3f} "
              f"{r['theory_profiled']:8.3f} {r['gap']:+6.3f} "
              f"{r['peak_activation_bytes'] / 2**20:8.1f} {'/'.join(map(str, r['held'])):>6} "
              f"{f(tp, '.1f'):>12} {f(r['x_torch'], '.2f'):>7}x")
    for line in refusals:
        print(line)
    mark = lambda ok: "\u2713" if ok else "\u2717"
    targets = {}
    one, h1, il = rows.get(("1f1b", 8)), rows.get(("zb-h1", 8)), rows.get(("interleaved-1f1b", 8))
    if one and h1:
        ratio = h1["bubble"] / one["bubble"]
        mem = h1["peak_activation_bytes"] / one["peak_activation_bytes"]
        targets["zb_h1_bubble_le_half_1f1b_m8"] = ratio <= 0.5
        targets["zb_h1_activations_le_1.1x_1f1b_m8"] = mem <= 1.1
        print(f"{mark(ratio <= 0.5)} zb-h1 bubble / 1f1b's at M=8: {h1['bubble']:.3f} / "
              f"{one['bubble']:.3f} = {ratio:.2f} (target <= 0.5)")
        print(f"{mark(mem <= 1.1)} zb-h1 peak activations / 1f1b's at M=8: {mem:.2f}x (target <= 1.1)")
    if one and il:
        ratio = il["bubble"] / one["bubble"]
        targets["interleaved_bubble_le_0.6x_1f1b_m8"] = ratio <= 0.6
        print(f"{mark(ratio <= 0.6)} interleaved-1f1b (v=2) bubble / 1f1b's at M=8: "
              f"{il['bubble']:.3f} / {one['bubble']:.3f} = {ratio:.2f} (target <= 0.6)")
    ran = [r for r in rows.values() if r]
    near = [abs(r["gap"]) <= 0.03 for r in ran]
    targets["bubble_within_3_points_of_profiled_theory"] = all(near)
    print(f"{mark(all(near))} measured bubble within 3 points of the profiled-time theory: "
          f"{sum(near)}/{len(near)}" + ("" if all(near) else "; missed: " + ", ".join(
              f"{r['schedule']} M={r['micro_batches']} {r['gap']:+.3f}"
              for r, ok in zip(ran, near) if not ok)))
    for s in ("1f1b", "interleaved-1f1b", "zb-h1"):
        xs = [r for r in ran if r["schedule"] == s and r.get("x_torch")]
        if not xs:
            continue
        ok = all(r["x_torch"] >= 1.10 for r in xs)
        targets[f"x_torch_{s}_ge_1.10"] = ok
        print(f"{mark(ok)} {s} img/s >= 1.10x {TORCH[s]}: " +
              ", ".join(f"M={r['micro_batches']} {r['x_torch']:.2f}x" for r in xs))
    json.dump({"cut_2_pieces": cut2, "cut_4_pieces": cut4,
               "rows": [r for r in rows.values() if r], "targets": targets},
              open(out, "w"), indent=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
