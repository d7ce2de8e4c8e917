#!/usr/bin/env python3
"""A device profile for `parallax plan --device-profile` from stated assumptions, not a measurement.

Takes a profile.json that `parallax plan` measured here (the relative cost of each block, its
forward, input- and weight-gradient split, and its activation sizes) and scales its block times so
that one image's forward + backward + loss takes 1 / IMAGES_PER_SEC seconds, as on the assumed
device. The optimizer and the gradient average are set from an assumed memory bandwidth. Every
assumption is written into the profile's "source" field.

Usage: bench/assumed_gpu_profile.py MEASURED_PROFILE OUT [--images-per-sec 3000]
       [--memory-gbps 3000] [--device "H100/H200-class GPU, bf16"]
"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("measured")
    ap.add_argument("out")
    ap.add_argument("--images-per-sec", type=float, default=3000.0)
    ap.add_argument("--memory-gbps", type=float, default=3000.0)
    ap.add_argument("--device", default="cuda (assumed H100/H200-class GPU, bf16 autocast)")
    a = ap.parse_args()
    p = json.load(open(a.measured))
    blocks = p["block_seconds_by_rows"]
    rows = max(blocks, key=int)  # the largest profiled size: closest to a GPU's batch
    times = blocks[rows]
    per_image = (sum(b["forward"] + b["backward"] for b in times)
                 + p["loss_s_per_row"] * int(rows)) / int(rows)
    k = (1.0 / a.images_per_sec) / per_image
    p["block_seconds_by_rows"] = {rows: [{key: v * k for key, v in b.items()} for b in times]}
    p["loss_s_per_row"] *= k
    # SGD with momentum reads and writes weights, gradients and momentum (4 bytes each): ~20 bytes
    # of traffic per parameter; the average reads and writes one array: 8 bytes.
    p["optimizer_s_per_param"] = 20 / (a.memory_gbps * 1e9)
    p["scale_s_per_param"] = 8 / (a.memory_gbps * 1e9)
    p["step_overhead_s"] = 0.0
    p["slowdown"] = []
    p["comm_compute_share"] = 0.0
    p["loaded_latency_s"] = 0.0
    p["collectives"] = {}
    p["collectives_world"] = 1
    p["device"] = a.device
    p["source"] = (f"assumed: {a.images_per_sec:g} img/s per device for this model's forward + "
                   f"backward, split over blocks as {p.get('source', 'measured on a CPU')} at "
                   f"{rows} images; optimizer at {a.memory_gbps:g} GB/s of memory bandwidth")
    with open(a.out, "w") as f:
        json.dump(p, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
