#!/usr/bin/env bash
# The GPU acceptance run, for a lent GPU machine (one GPU, a pip/conda PyTorch 2.x with CUDA, CMake
# and ninja, no network). Under 8 minutes:
#   1. builds parallax against that machine's torch into build-gpu/ and runs the cuda-labelled
#      tests (one GPU alone, checkpoints between devices, two ranks sharing the GPU over Gloo for
#      ddp, zero and pipeline against one device's result; NCCL tests skip on one GPU);
#   2. prints single-GPU throughput side by side in one run: parallax, PyTorch eager and
#      torch.compile on the same torch, ResNet-50 fp32 at 32x32 (batch 256) and 224x224 (batch 64).
# It needs the Debian -dev packages of scripts/install-deps.sh (except libtorch-dev) on that
# machine; CMake names any that is missing. Env: PYTHON (python3), STEPS (30), WARMUP (10).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
steps=${STEPS:-30}
warmup=${WARMUP:-10}
start=$SECONDS
root=$($py -c "import importlib.util as u; print(u.find_spec('torch').submodule_search_locations[0])")
echo "gpu-check: torch $($py -c 'import torch; print(torch.__version__, torch.version.cuda)') at $root"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true

cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DPARALLAX_TORCH_ROOT="$root" >/dev/null
ninja -C build-gpu -j "$(nproc)" parallax parallax_cuda_tests
echo "gpu-check: built in $((SECONDS - start)) s"
(cd build-gpu && ctest -L cuda --output-on-failure --timeout 300)
echo "gpu-check: cuda tests done at $((SECONDS - start)) s"

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
parallax_ips() {  # image_size batch
  rm -rf "$tmp/run"
  build-gpu/parallax train --model resnet50 --device cuda --dataset synthetic \
    --synthetic-kind random --image-size "$1" --synthetic-train $(($2 * 4)) --synthetic-test 64 \
    --batch-size "$2" --steps $((warmup + steps)) --timing-warmup "$warmup" --lr 0.05 \
    --lr-schedule constant --no-augment --no-checkpoint --out "$tmp/run" >/dev/null 2>&1
  $py -c "import json,sys; print(json.load(open(sys.argv[1]))['images_per_sec'])" "$tmp/run/summary.json"
}
torch_ips() {  # image_size batch [--compile]
  $py bench/torch_resnet.py --device cuda --model resnet50 --image-size "$1" --batch-size "$2" \
    --steps "$steps" --warmup "$warmup" ${3:-} |
    $py -c 'import json,sys; print(json.load(sys.stdin)["images_per_sec"])'
}
have_tv=1; $py -c 'import torchvision' 2>/dev/null || { have_tv=0; echo "gpu-check: no torchvision here: parallax's row only"; }
printf "%-10s %6s %12s %12s %12s %10s %10s\n" image batch parallax eager compile "vs eager" "vs compile"
for cfg in "32 256" "224 64"; do
  set -- $cfg
  p=$(parallax_ips "$1" "$2")
  e=0; c=0
  if [ $have_tv = 1 ]; then e=$(torch_ips "$1" "$2"); c=$(torch_ips "$1" "$2" --compile || echo 0); fi
  $py -c "
import sys; s,b,p,e,c=sys.argv[1:6]; p,e,c=float(p),float(e),float(c)
r=lambda a,b: f'{a/b:.2f}x' if b>0 else 'n/a'
print(f'{s+\"x\"+s:<10} {b:>6} {p:12.1f} {e:12.1f} {c:12.1f} {r(p,e):>10} {r(p,c):>10}')" "$1" "$2" "$p" "$e" "$c"
done
echo "gpu-check: finished in $((SECONDS - start)) s"
