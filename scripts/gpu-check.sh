#!/usr/bin/env bash
# The GPU acceptance run, for a lent GPU machine as it is: one GPU, a pip PyTorch 2.x with CUDA
# (found from python3), nvcc, CMake, ninja and a host g++; no network and none of the Debian -dev
# packages. Those come in gpu-bundle/, which scripts/gpu-bundle.sh makes on the Debian machine;
# git ignores it, so the device tool's call must carry it (carry: ["gpu-bundle"]). Without a bundle
# it builds against the machine's own -dev packages (scripts/install-deps.sh's), as before.
# Under 8 minutes on 16 cores:
#   1. configures and builds parallax and parallax_cuda_tests (nothing else) into build-gpu/
#      against that machine's torch (cmake -DPARALLAX_BUNDLE=gpu-bundle);
#   2. runs the cuda-labelled tests: one GPU alone (the planner's event timing, a step's own memory
#      peak, checkpoints between devices), then ranks sharing the GPU over Gloo with every
#      collective checked against NCCL's rules (PARALLAX_CHECK_COLLECTIVES=1, the rank's device
#      cuda:0) for ddp, zero-1/2/3, pipeline and hybrid against one device's result; NCCL's own
#      tests skip on one GPU;
#   3. prints single-GPU throughput side by side in one run: parallax, PyTorch eager and
#      torch.compile on the same torch, ResNet-50 fp32 at 32x32 (batch 256) and 224x224 (batch 64).
# Prints the seconds of each part (configure, build, each test group, each benchmark) and the total.
#
# Usage: scripts/gpu-check.sh
# Env: PYTHON (python3), STEPS (30), WARMUP (10), GPU_BUNDLE (gpu-bundle),
#      GPU_CHECK_BUILD_ONLY=1: stop after the build (scripts/gpu-bundle-proof.sh, with no GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
steps=${STEPS:-30}
warmup=${WARMUP:-10}
bundle=${GPU_BUNDLE:-gpu-bundle}
start=$SECONDS
t=$SECONDS
took() { echo "gpu-check: $1 $((SECONDS - t)) s"; t=$SECONDS; }  # the part since the last call

root=$($py -c "import importlib.util as u; print(u.find_spec('torch').submodule_search_locations[0])")
echo "gpu-check: torch $($py -c 'import torch; print(torch.__version__, torch.version.cuda)') at $root"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
if [ -f "$bundle/bundle.cmake" ]; then
  bundle_arg=(-DPARALLAX_BUNDLE="$(cd "$bundle" && pwd)")
  echo "gpu-check: dependencies from $bundle/ ($(head -1 "$bundle/MANIFEST"))"
else
  bundle_arg=(-DPARALLAX_BUNDLE= -DPARALLAX_DOWNLOAD=ON)  # a build-gpu/ configured with one forgets it
  echo "gpu-check: no $bundle/: using this machine's -dev packages; where it has none, run scripts/gpu-bundle.sh on the Debian machine first and carry gpu-bundle/ here"
fi

cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DPARALLAX_TORCH_ROOT="$root" \
  "${bundle_arg[@]}" >/dev/null
took configure
ninja -C build-gpu -j "$(nproc)" parallax parallax_cuda_tests
took build
if [ "${GPU_CHECK_BUILD_ONLY:-0}" = 1 ]; then
  echo "gpu-check: built only (GPU_CHECK_BUILD_ONLY=1) in $((SECONDS - start)) s"
  exit 0
fi

# Test groups, each timed.
# The cuda tests in two timed groups: one GPU alone (kernels, events, memory, checkpoints), then
# ranks sharing it over Gloo under the checking group with the rank's device cuda:0 (ddp,
# zero-1/2/3, pipeline, hybrid, each evaluated and compared with one device).
shared=RanksSharingOneGpuUnderNcclsRules
(cd build-gpu && ctest -L cuda -E "$shared" -j 4 --output-on-failure --timeout 300)
took "cuda tests, one GPU"
(cd build-gpu && ctest -L cuda -R "$shared" --output-on-failure --timeout 300)
took "cuda tests, ranks sharing the GPU under NCCL's rules"

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
rows=()
for cfg in "32 256" "224 64"; do
  set -- $cfg
  p=$(parallax_ips "$1" "$2"); took "bench parallax ${1}x$1"
  e=0; c=0
  if [ $have_tv = 1 ]; then
    e=$(torch_ips "$1" "$2"); took "bench eager ${1}x$1"
    c=$(torch_ips "$1" "$2" --compile || echo 0); took "bench compile ${1}x$1"
  fi
  rows+=("$1 $2 $p $e $c")
done
printf "%-10s %6s %12s %12s %12s %10s %10s\n" image batch parallax eager compile "vs eager" "vs compile"
for row in "${rows[@]}"; do
  $py -c "
import sys; s,b,p,e,c=sys.argv[1:6]; p,e,c=float(p),float(e),float(c)
r=lambda a,b: f'{a/b:.2f}x' if b>0 else 'n/a'
print(f'{s+\"x\"+s:<10} {b:>6} {p:12.1f} {e:12.1f} {c:12.1f} {r(p,e):>10} {r(p,c):>10}')" $row
done
echo "gpu-check: finished in $((SECONDS - start)) s"
