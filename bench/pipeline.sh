#!/usr/bin/env bash
# Pipeline parallelism side by side in one run: ResNet-50, 32x32 random data, global batch 120,
# 2 ranks with 1 thread each, cut at layer3.0 (the study's cut). The split-size sweep under each
# schedule, GPipe and 1F1B (images/s, micro-batches, measured bubble vs the (P-1)/(M+P-1) (P
# stages) theory, ratio to naive model parallel), naive model parallel (one batch at a time), one
# rank at 1 and 2 threads, GPipe vs 1F1B peak activation memory of stage 0 at 8 micro-batches, and
# a --balance time cut (1F1B, 8 micro-batches). Checks, per schedule: measured bubble within 5
# points of theory at M >= 8; pipeline above naive model parallel at every M >= 2. GPipe runs every
# forward before any backward, so where a stage's forward is slower than the next stage's (and
# its backward faster) the next stage waits in the forward phase and it waits in the backward
# phase, idle the theory (equal stages) does not count; 1F1B alternates and mostly hides it.
# Each configuration runs once.
# Part "schedules" (bench/pipeline_schedules.py): every schedule (gpipe, 1f1b, interleaved-1f1b,
# zb-h1, zb-h2, zb-v) at M = 4, 8 and 15 on one balanced cut (--balance time over 4 pieces,
# profiled once; its middle cut for the 2-piece schedules), beside torch.distributed.pipelining
# (Schedule1F1B, ScheduleInterleaved1F1B, ScheduleInterleavedZeroBubble, ScheduleZBVZeroBubble)
# on the same cut in the same run: img/s, measured bubble, its closed-form theory and the
# theory from the run's profiled F, B, I, W times, peak activation memory; checks the zero-bubble
# issue's targets.
# Usage: bench/pipeline.sh [BUILD_DIR]
# Env: PARTS ("sweep schedules"), MICRO ("4 8 15", schedules part), PEERS (1: run PyTorch's),
# STEPS (4 timed), WARMUP (2 untimed), SPLITS ("3 5 8 10 12 20 40 60"), SCHEDULES
# ("gpipe 1f1b"), MODEL (resnet50),
# CUT (layer3.0, another block name, or time for --balance time),
# OUT (bench/results). The study's split size 1 is left out: BatchNorm is per micro-batch, and at
# 32x32 layer4's output is 1x1, so one image gives one value per channel and training fails.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-4} WARMUP=${WARMUP:-2}
source bench/common.sh "$@"
splits=${SPLITS:-3 5 8 10 12 20 40 60}

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
run() {  # name threads extra-args...: writes $tmp/name/summary.json; exits with the first error
  local name=$1 threads=$2; shift 2
  echo "bench: $name" >&2
  "$build/parallax" train --model "$model" --dataset synthetic --synthetic-kind random \
    --image-size 32 --synthetic-train 1200 --synthetic-test 120 --batch-size 120 \
    --steps $((warmup + steps)) --timing-warmup "$warmup" --threads "$threads" --lr 0.05 \
    --lr-schedule constant --no-augment --no-checkpoint --out "$tmp/$name" "$@" \
    >/dev/null 2>"$tmp/$name.err" ||
    { echo "bench: run $name failed: $(grep -m1 error: "$tmp/$name.err" || tail -1 "$tmp/$name.err")" >&2; exit 1; }
}
# CUT=layer3.0 (the study's cut, default) or CUT=time (--balance time: stages of equal measured
# cost; at 32x32 the study's cut gives stage 0 about half of stage 1's work).
parts=${PARTS:-sweep schedules}
mkdir -p "$out_dir"
if [[ " $parts " == *" schedules "* ]]; then
  # One cut for all: --balance time over 4 pieces, profiled once; the 2-piece schedules take its
  # middle cut.
  run profile 1 --strategy pipeline --nproc 2 --balance time --pipeline-schedule interleaved-1f1b \
    --micro-batches 8
  cut4=$($py -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["strategy_details"]["split_at"]))' "$tmp/profile/summary.json")
  cut2=$(echo "$cut4" | cut -d, -f2)
  echo "bench: cut $cut2 (2 pieces), $cut4 (4 pieces)" >&2
  for m in ${MICRO:-4 8 15}; do
    for sched in gpipe 1f1b interleaved-1f1b zb-h1 zb-h2 zb-v; do
      c=$cut2; [[ $sched == interleaved-1f1b || $sched == zb-v ]] && c=$cut4
      if [[ $sched == interleaved-1f1b && $((m % 2)) != 0 ]]; then
        touch "$tmp/s_${sched}_$m.refused"  # not a multiple of the 2 ranks: parallax refuses it
        continue
      fi
      run "s_${sched}_$m" 1 --strategy pipeline --nproc 2 --split-at "$c" \
        --pipeline-schedule "$sched" --micro-batches "$m"
    done
    if [[ ${PEERS:-1} == 1 ]]; then
      for sched in 1f1b interleaved-1f1b zb-h1 zb-v; do
        c=$cut2; [[ $sched == interleaved-1f1b || $sched == zb-v ]] && c=$cut4
        if [[ $sched == interleaved-1f1b && $((m % 2)) != 0 ]]; then continue; fi
        echo "bench: torch $sched M=$m" >&2
        LD_PRELOAD=$tcmalloc .venv/bin/python bench/torch_pipeline.py --schedule "$sched" \
          --split-at "$c" --micro-batches "$m" --batch-size 120 --image-size 32 \
          --steps "$steps" --warmup "$warmup" --model "$model" > "$tmp/t_${sched}_$m.json" \
          2>"$tmp/t_${sched}_$m.err" ||
          { why=$(grep -v "^ *$" "$tmp/t_${sched}_$m.err" | tail -1)
            echo "bench: torch $sched M=$m refused: $why" >&2
            $py -c 'import json,sys; print(json.dumps({"refused": sys.argv[1]}))' "$why" \
              > "$tmp/t_${sched}_$m.json"; }
      done
    fi
  done
  $py bench/pipeline_schedules.py "$tmp" "$out_dir/pipeline_schedules.json" "$cut2" "$cut4" \
    ${MICRO:-4 8 15}
fi
[[ " $parts " == *" sweep "* ]] || exit 0

case ${CUT:-layer3.0} in
  time) cut=(--nproc 2 --balance time) ;;
  *) cut=(--nproc 2 --split-at "${CUT:-layer3.0}") ;;
esac
run model 1 --strategy model "${cut[@]}"
schedules=${SCHEDULES:-gpipe 1f1b}
for sched in $schedules; do
  for s in $splits; do
    run "${sched}_$s" 1 --strategy pipeline "${cut[@]}" --pipeline-schedule "$sched" --split-size "$s"
  done
done
run mem_gpipe 1 --strategy pipeline "${cut[@]}" --pipeline-schedule gpipe --split-size 15
run mem_1f1b 1 --strategy pipeline "${cut[@]}" --pipeline-schedule 1f1b --split-size 15
run balanced 1 --strategy pipeline --nproc 2 --balance time --pipeline-schedule 1f1b --split-size 15
run single_t1 1 --strategy single
run single_t2 2 --strategy single

$py - "$tmp" "$model" "$out_dir/pipeline.json" "$schedules" $splits <<'PY'
import json, sys
tmp, model, path, schedules, splits = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(), sys.argv[5:]
load = lambda n: json.load(open(f"{tmp}/{n}/summary.json"))
def row(name, label):
    s = load(name); d = s.get("strategy_details") or {}
    b = s.get("bubble_fraction"); b = d.get("bubble_fraction", b)
    return {"label": label, "images_per_sec": s["images_per_sec"],
            "micro_batches": d.get("micro_batches"), "bubble": b,
            "bubble_theory": d.get("bubble_fraction_theory"), "split_at": d.get("split_at"),
            "stage0": (d.get("ranks") or [{}])[0], "details": d}
model_row = row("model", "model parallel (naive, 1 batch)")
sweeps = {k: [row(f"{k}_{s}", f"{k} split-size {s}") for s in splits] for k in schedules}
sweep = [r for k in schedules for r in sweeps[k]]
extra = [row("mem_gpipe", "gpipe split-size 15"), row("mem_1f1b", "1f1b split-size 15"),
         row("balanced", "1f1b split-size 15 --balance time"),
         row("single_t1", "single rank, 1 thread"), row("single_t2", "single rank, 2 threads")]
base = model_row["images_per_sec"]
f = lambda v, fmt, w=0: ("-" if v is None else format(v, fmt)).rjust(w)
print(f"{'contender':<36} {'img/s':>7} {'M':>4} {'bubble':>7} {'theory':>7} {'x model':>8}")
for r in [model_row] + sweep + extra:
    r["x_model"] = r["images_per_sec"] / base if base > 0 else None
    print(f"{r['label']:<36} {r['images_per_sec']:7.2f} {f(r['micro_batches'], 'd', 4)} "
          f"{f(r['bubble'], '.3f', 7)} {f(r['bubble_theory'], '.3f', 7)} {f(r['x_model'], '.2f', 7)}x")
mark = lambda ok: "\u2713" if ok else "\u2717"
targets = {}
for k in schedules:
    big = [r for r in sweeps[k] if (r["micro_batches"] or 0) >= 8]
    near = [abs(r["bubble"] - r["bubble_theory"]) <= 0.05 for r in big]
    print(f"{mark(all(near) and bool(big))} {k}: measured bubble within 5 points of theory at M >= 8: " +
          ", ".join(f"M={r['micro_batches']} {r['bubble']:.3f} vs {r['bubble_theory']:.3f} {mark(ok)}"
                    for r, ok in zip(big, near)) + ("" if big else "no sweep row has M >= 8"))
    multi = [r for r in sweeps[k] if (r["micro_batches"] or 0) >= 2]
    above = [r["images_per_sec"] > base for r in multi]
    print(f"{mark(all(above) and bool(multi))} {k}: pipeline above naive model parallel at every M >= 2: " +
          ", ".join(f"M={r['micro_batches']} {r['x_model']:.2f}x {mark(ok)}" for r, ok in zip(multi, above)))
    targets[k] = {"bubble_within_5_points_at_m_ge_8": all(near) and bool(big),
                  "pipeline_above_model_at_m_ge_2": all(above) and bool(multi)}
g, o = extra[0]["stage0"], extra[1]["stage0"]
mib = lambda r: r.get("peak_activation_bytes", 0) / 2**20
for name, r in (("gpipe", g), ("1f1b", o)):
    print(f"stage 0 peak activations, {name:<5} M={extra[0]['micro_batches']}: {mib(r):8.1f} MiB, "
          f"{r.get('held_micro_batches')} micro-batches held")
mem_ratio = mib(o) / mib(g) if mib(g) > 0 else None
print(f"1f1b / gpipe activation memory: {f(mem_ratio, '.2f')}x")
bal = extra[2]
print(f"--balance time cut at {','.join(bal['split_at'] or [])}: bubble {f(bal['bubble'], '.3f')} "
      f"(theory {f(bal['bubble_theory'], '.3f')}) vs layer3.0 1f1b {f(extra[1]['bubble'], '.3f')}")
for r in [model_row] + sweep + extra:
    r.pop("stage0")
json.dump({"model": model, "model_parallel": model_row, "sweeps": sweeps,
           "gpipe_m8": extra[0], "1f1b_m8": extra[1], "balanced_time": extra[2],
           "single_1thread": extra[3], "single_2threads": extra[4],
           "activation_ratio_1f1b_gpipe": mem_ratio,
           "targets": targets},
          open(path, "w"), indent=1)
print("wrote", path)
PY
