#!/usr/bin/env python3
"""Driver of bench/tp_peers.sh: parallax's tensor parallelism against PyTorch's own (DTensor's
parallelize_module, bench/torch_tp.py), side by side in one run, on the CPU over gloo.

Rows: gpt-mini (batch 12) and gpt-char (batch 4) at tp 2, and at tp 2 with sequence parallelism;
2 ranks of 1 thread each, fp32, the same batch and context for both contenders, random tokens
(vocabulary 65), AdamW (betas 0.9/0.99, decay 0.1 on matrices), gradient clipping at 1.0. Each
contender trains WARMUP untimed steps, then STEPS timed; its figure is tokens/s of the median step
(batch x context / step time: the TP ranks share one batch). ROUNDS rounds each measure both
contenders back to back (which goes first alternates), so noise hits both alike; the table gives
each one's best and median and parallax / peer as best over best and as the median of the rounds'
ratios.

First (unless --no-check) the correctness check: both start from the same weights (the peer's
initialisation written as a Hugging Face GPT2LMHeadModel state dict, read by parallax's
--init-from) and train CHECK_STEPS steps on the same batches: the peer is fed the very windows
parallax's loader draws for synthetic-text (its generator, sampler and window starts redone here),
with no dropout; each step's training loss (before its update) must agree within 1e-5, and its
gradient norm (before clipping, steps.csv's grad_norm) within 1e-5 relative, at tp 2 and at tp 2 +
SP. The norm catches what the losses miss: with SP's LayerNorm gradients left unsummed over the
ranks the losses of 3 steps still agree within 5e-7, the norms differ by 2e-4. The same model on
one process without DTensor is quoted beside them. --check: only the check. The step-0 loss alone
tells whether the batches are the same: on random tokens another batch moves it by about 1e-2.
Writes OUT/tp_peers.json; exits 1 where the check fails.

Usage: bench/tp_peers.py [BUILD_DIR (build-torch2)] [--check | --no-check]
Env: ROUNDS (3), STEPS (10), WARMUP (3), CHECK_STEPS (3), OUT (bench/results), ROWS (names to
keep, e.g. "gpt-mini": the rows whose name contains one; all by default).
"""
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
STEPS, WARMUP, ROUNDS, CHECK_STEPS = (int(os.environ.get(k, d)) for k, d in
                                      (("STEPS", 10), ("WARMUP", 3), ("ROUNDS", 3),
                                       ("CHECK_STEPS", 3)))
BATCH = {"gpt-mini": 12, "gpt-char": 4}
CONTEXT = {"gpt-mini": 64, "gpt-char": 256}
VOCAB, SYNTHETIC_TRAIN, SYNTHETIC_TEST, SEED = 65, 256, 8, 0
TP = 2
TOLERANCE = 1e-5  # on each step's loss, absolute
NORM_TOLERANCE = 1e-5  # on each step's gradient norm, relative
PARALLAX, PEER = "parallax", "pytorch dtensor"


def env():
    return dict(os.environ, LD_PRELOAD=TCMALLOC)


def last_error(r):
    err = [l for l in ((r.stderr or "") + (r.stdout or "")).splitlines() if l.strip()]
    return err[-1:] if err else ["no output"]


def parallax_run(build, tmp, model, sp, steps, warmup, extra=()):
    """Trains parallax at tp 2 (+ SP); returns (summary, steps.csv's rows) or (None, error)."""
    out = os.path.join(tmp, "run")
    shutil.rmtree(out, ignore_errors=True)
    cmd = [os.path.join(build, "parallax"), "train", "--model", model, "--dataset",
           "synthetic-text", "--synthetic-kind", "random", "--synthetic-train",
           str(SYNTHETIC_TRAIN), "--synthetic-test", str(SYNTHETIC_TEST), "--seed", str(SEED),
           "--batch-size", str(BATCH[model]), "--epochs", "1", "--steps", str(warmup + steps),
           "--timing-warmup", str(warmup), "--threads", "1", "--optimizer", "adamw", "--lr",
           "1e-3", "--beta2", "0.99", "--weight-decay", "0.1", "--grad-clip", "1.0",
           "--lr-schedule", "constant", "--dropout", "0", "--no-checkpoint", "--no-trace",
           "--strategy", "tensor", "--tp", str(TP), "--nproc", str(TP), "--out", out,
           *(["--sequence-parallel"] if sp else []), *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env())
    if r.returncode != 0:
        return None, {"error": last_error(r)}
    summary = json.load(open(os.path.join(out, "summary.json")))
    with open(os.path.join(out, "steps.csv")) as f:
        steps = [{"loss": float(row["loss"]), "grad_norm": float(row["grad_norm"])}
                 for row in csv.DictReader(f)]
    return summary, steps


def peer_run(model, sp, args, nproc=TP):
    """Runs bench/torch_tp.py; returns its JSON line or None and the error."""
    cmd = [sys.executable, os.path.join(HERE, "torch_tp.py"), "--model", model, "--nproc",
           str(nproc), "--threads", "1", "--batch-size", str(BATCH[model]),
           *(["--sequence-parallel"] if sp else []), *args]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=HERE)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if r.returncode != 0 or not lines:
        return None, {"error": last_error(r)}
    return json.loads(lines[-1]), None


# parallax's synthetic-text and its training windows (src/data/rng.h, text_corpus.cpp,
# sampler.cpp, text_windows.cpp), redone so that the peer trains on the very same batches.
MASK = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def mix_seed(a, b, c=0, d=0):
    return splitmix64(splitmix64(splitmix64(splitmix64(a) ^ b) ^ c) ^ d)


def parallax_batches(model, steps):
    """The first `steps` training batches of parallax's synthetic-text (random, vocabulary 65,
    SEED), one data-parallel replica, epoch 0: [steps, batch, context + 1] tokens."""
    import torch
    t, b = CONTEXT[model], BATCH[model]
    n_train = SYNTHETIC_TRAIN * t  # the training split's tokens: the stream's first ones
    tokens = [mix_seed(SEED, 0x7E7, 1, i) % VOCAB for i in range(n_train)]
    windows = max(1, (n_train - 1) // t)  # windows_that_fit
    order = list(range(windows))  # Sampler: Fisher-Yates from (seed, epoch 0)
    for i in range(windows - 1, 0, -1):
        j = mix_seed(SEED, 0x5A3, 0, i) % (i + 1)
        order[i], order[j] = order[j], order[i]
    assert steps * b <= windows, "CHECK_STEPS batches run past the first epoch"
    out = []
    for s in range(steps):
        rows = []
        for sample in order[s * b:(s + 1) * b]:
            start = mix_seed(SEED, 0x7E47, 0, sample) % (n_train - t)  # train_window_start
            rows.append(tokens[start:start + t + 1])
        out.append(rows)
    return torch.tensor(out, dtype=torch.long)


def check(build, tmp, models):
    """Same weights, same batches: each step's loss, parallax against the DTensor peer."""
    import torch
    sys.path.insert(0, HERE)
    from torch_tp import initial_state
    result, ok = [], True
    print(f"correctness: {CHECK_STEPS} steps from the same weights on the same batches, fp32; "
          f"losses within {TOLERANCE:g}, gradient norms within {NORM_TOLERANCE:g} relative")
    for model in models:
        init, batches = os.path.join(tmp, "init.pt"), os.path.join(tmp, "batches.pt")
        torch.save(initial_state(model), init)
        torch.save(parallax_batches(model, CHECK_STEPS), batches)
        feed = ["--init", init, "--batches", batches]
        one, err = peer_run(model, False, feed, nproc=1)
        reference = one["losses"] if one else []
        for sp in (False, True):
            name = f"{model} tp {TP}{' + sp' if sp else ''}"
            _, ours = parallax_run(build, tmp, model, sp, CHECK_STEPS, 0,
                                   ["--init-from", init])
            peer, peer_err = peer_run(model, sp, feed)
            if not isinstance(ours, list) or peer is None:
                ok = False
                result.append({"row": name, "error": ours if peer else peer_err})
                print(f"{name}: failed {ours if peer else peer_err}")
                continue
            losses = [s["loss"] for s in ours]
            norms = [s["grad_norm"] for s in ours]
            diff = max(abs(a - b) for a, b in zip(losses, peer["losses"]))
            norm_diff = max(abs(a - b) / b for a, b in zip(norms, peer["grad_norms"]))
            good = (len(losses) == len(peer["losses"]) == CHECK_STEPS and diff <= TOLERANCE and
                    norm_diff <= NORM_TOLERANCE)
            ok &= good
            print(f"\n{name}: {'agree' if good else 'DISAGREE'} (losses: max |difference| "
                  f"{diff:.2e}; gradient norms before clipping: max relative difference "
                  f"{norm_diff:.2e})")
            print(f"  {'step':>4}  {'parallax':>12}  {'dtensor':>12}  {'difference':>10}  "
                  f"{'one process':>12}  {'|grad| parallax':>15}  {'dtensor':>10}")
            for i, (a, b) in enumerate(zip(losses, peer["losses"])):
                r = f"{reference[i]:12.8f}" if i < len(reference) else f"{'-':>12}"
                print(f"  {i:>4}  {a:12.8f}  {b:12.8f}  {a - b:10.2e}  {r}  "
                      f"{norms[i]:15.8f}  {peer['grad_norms'][i]:10.8f}")
            result.append({"row": name, "parallax": losses, "dtensor": peer["losses"],
                           "one_process": reference, "max_abs_difference": diff,
                           "grad_norm_parallax": norms, "grad_norm_dtensor": peer["grad_norms"],
                           "grad_norm_max_relative_difference": norm_diff, "agree": good})
    return result, ok


def rows(build, models):
    table = []
    for model in models:
        for sp in (False, True):
            def ours(tmp, model=model, sp=sp):
                s, err = parallax_run(build, tmp, model, sp, STEPS, WARMUP)
                if s is None:
                    return None, err
                tp = s.get("strategy_details", {}).get("tensor_parallel", {})
                return s["tokens_per_sec"], {"step_time_s": s["step_time_s"]["median"],
                                             "mfu": s["flops"]["mfu"], "comm_s": s.get("comm_s"),
                                             "tensor_parallel": tp}

            def peer(tmp, model=model, sp=sp):
                j, err = peer_run(model, sp, ["--steps", str(STEPS), "--warmup", str(WARMUP)])
                if j is None:
                    return None, err
                return j["tokens_per_sec"], {"step_time_s": j["step_time_s_median"]}
            table.append((f"{model} tp {TP}{' + sp' if sp else ''}", {PARALLAX: ours, PEER: peer}))
    return table


def timing(build, tmp, table):
    figures = {name: {PARALLAX: [], PEER: []} for name, _ in table}
    ratios = {name: [] for name, _ in table}
    info, notes = {name: {} for name, _ in table}, {}
    for rnd in range(ROUNDS):
        for name, runs in table:
            order = [PARALLAX, PEER] if rnd % 2 == 0 else [PEER, PARALLAX]
            got = {}
            for label in order:
                tps, extra = runs[label](tmp)
                if tps is None:
                    notes[f"{name} / {label} / round {rnd + 1}"] = extra
                    print(f"round {rnd + 1}: {name} / {label}: failed {extra}", file=sys.stderr)
                    continue
                got[label] = tps
                figures[name][label].append(tps)
                if tps >= max(figures[name][label]):
                    info[name][label] = extra
            if len(got) == 2:
                ratios[name].append(got[PARALLAX] / got[PEER])
            print(f"round {rnd + 1}: {name:<18} " + "  ".join(
                f"{label} {got[label]:8.0f}" if label in got else f"{label} failed"
                for label in (PARALLAX, PEER)) + " tokens/s" +
                (f"  parallax / peer {ratios[name][-1]:.2f}x" if len(got) == 2 else ""),
                file=sys.stderr)
    out = []
    print(f"\n{'row':<18} {'contender':<16} {'best':>8} {'median':>8}  tokens/s of each round")
    for name, _ in table:
        best = {k: max(v) for k, v in figures[name].items() if v}
        median = {k: statistics.median(v) for k, v in figures[name].items() if v}
        for label in (PARALLAX, PEER):
            if label in best:
                print(f"{name:<18} {label:<16} {best[label]:8.0f} {median[label]:8.0f}  "
                      f"{' '.join(f'{x:.0f}' for x in figures[name][label])}")
            else:
                print(f"{name:<18} {label:<16} {'failed':>8}")
        row = {"row": name, "figures": figures[name], "best": best, "median": median,
               "round_ratios": ratios[name], "info": info[name]}
        if len(best) == 2:
            row["parallax_over_peer_best"] = best[PARALLAX] / best[PEER]
            print(f"{name:<18} {'=> parallax / peer':<16} {row['parallax_over_peer_best']:7.2f}x "
                  f"best/best", end="")
        if ratios[name]:
            row["parallax_over_peer_median_round"] = statistics.median(ratios[name])
            print(f", {row['parallax_over_peer_median_round']:.2f}x median of the rounds' "
                  f"ratios ({' '.join(f'{x:.2f}' for x in ratios[name])})")
        else:
            print()
        out.append(row)
    return out, notes


def main():
    args = [a for a in sys.argv[1:] if a.startswith("--")]
    positional = [a for a in sys.argv[1:] if not a.startswith("--")]
    build = positional[0] if positional else "build-torch2"
    unknown = set(args) - {"--check", "--no-check"}
    if unknown:
        sys.exit(f"tp_peers.py: unknown option {sorted(unknown)[0]}; give --check or --no-check")
    wanted = [w for w in os.environ.get("ROWS", "").split(",") if w]
    models = [m for m in BATCH if not wanted or any(w in f"{m} tp {TP} + sp" for w in wanted)]
    table = [row for row in rows(build, models) if not wanted or any(w in row[0] for w in wanted)]
    import torch
    result = {"framework": "pytorch " + torch.__version__, "tp": TP, "threads_per_rank": 1,
              "precision": "fp32", "batch": {m: BATCH[m] for m in models}, "steps": STEPS,
              "warmup": WARMUP, "rounds": ROUNDS}
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        if "--no-check" not in args:
            result["check"], ok = check(build, tmp, models)
            result["check_steps"], result["check_tolerance"] = CHECK_STEPS, TOLERANCE
            result["check_grad_norm_tolerance"] = NORM_TOLERANCE
            print(f"\ncorrectness check: {'passed' if ok else 'FAILED'}\n")
        if "--check" not in args:
            result["rows"], result["failures"] = timing(build, tmp, table)
    out_dir = os.environ.get("OUT", os.path.join(HERE, "results"))
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "tp_peers.json")
    with open(path + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(path + ".tmp", path)
    print(f"wrote {path}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
