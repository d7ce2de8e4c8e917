#!/usr/bin/env bash
# Proves, without a GPU, that scripts/gpu-check.sh builds on a machine like the lent GPU one: a
# bare Debian root (debootstrap --variant=minbase bookworm) holding only a compiler, CMake, ninja,
# Python with a pip torch in /opt/torch/.venv (a plain `python3` is that one, as there), the CUDA
# toolkit bind-mounted from this machine (torch's CMake files want nvcc), and none of parallax's
# -dev packages: everything else comes from gpu-bundle/ (scripts/gpu-bundle.sh, run first).
# In that root it copies the working tree (what the device tool sends: tracked and untracked,
# not ignored files, plus the bundle), runs gpu-check.sh's configure and build
# (GPU_CHECK_BUILD_ONLY=1), checks with ldd that every library the binaries load comes from the
# bundle, the torch wheel or glibc/libstdc++/libgcc_s, trains a few CPU steps, checks that
# `parallax data download` refuses in one line (exit 2), lists the skipping cuda tests, and
# configures once more with PyPI's CMake (the GPU machine's kind of CMake; configure only).
#
# Usage: sudo scripts/gpu-bundle-proof.sh      (root: debootstrap, chroot and mount need it)
# Env: PROOF_DIR (/var/tmp/parallax-gpu-proof): the root, the pip cache (outside the root, bound
#        in, so a rerun downloads nothing) and the logs (build.log, proof.log);
#      PROOF_CLEAN=1: build from nothing (otherwise the root's build-gpu/ is reused);
#      TORCH_VERSION (2.11.0, the GPU machine's); CUDA_DIR (/usr/local/cuda's target);
#      PIP_CMAKE_VERSION (latest; "none" skips that configure); DEBIAN_MIRROR (deb.debian.org).
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "gpu-bundle-proof: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot, mount): run it with sudo"
dir=${PROOF_DIR:-/var/tmp/parallax-gpu-proof}
root=$dir/chroot
torch_version=${TORCH_VERSION:-2.11.0}
cuda=$(readlink -f "${CUDA_DIR:-/usr/local/cuda}")
[ -x "$cuda/bin/nvcc" ] || fail "no nvcc in $cuda/bin: set CUDA_DIR to a CUDA toolkit"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
repo=/work/parallax  # the tree's place inside the root
mkdir -p "$dir/pip-cache"
exec > >(tee "$dir/proof.log") 2>&1
start=$SECONDS
say() { echo "gpu-bundle-proof: $*"; }

scripts/gpu-bundle.sh

if [ ! -f "$root/.parallax-debootstrap-done" ]; then
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
  rm -rf "$root"
  say "debootstrap --variant=minbase bookworm $root"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$dir/debootstrap.log"
  touch "$root/.parallax-debootstrap-done"
fi

# Mounts, undone on any exit, innermost first.
mounted=()
cleanup() { for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || umount -l "$m"; done; }
trap cleanup EXIT
mount_in() {  # mount arguments..., then the target inside the root
  local target=$root${*: -1}
  mkdir -p "$target"
  mount "${@:1:$#-1}" "$target"
  mounted=("$target" "${mounted[@]}")
}
mount_in -t proc proc /proc
mount_in --bind /dev /dev
mount_in --bind "$dir/pip-cache" /root/.cache/pip
mount_in --bind -o ro "$cuda" "/usr/local/$(basename "$cuda")"
ln -sfn "$(basename "$cuda")" "$root/usr/local/cuda"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/host-ca-certificates.crt"  # for pip

# A clean environment inside: nothing of this machine's but what is named here.
in_root() {
  env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    PATH=/opt/torch/.venv/bin:/usr/local/cuda/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PIP_CERT=/etc/host-ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
    chroot "$root" bash -c "set -euo pipefail; $1"
}

in_root 'for p in g++ cmake ninja-build python3-venv; do
           dpkg-query -W -f="\${Status}" $p 2>/dev/null | grep -q "ok installed" || missing=1
         done
         if [ -n "${missing:-}" ]; then
           apt-get update -qq
           apt-get install -y -qq --no-install-recommends g++ cmake ninja-build python3 python3-venv
         fi'
in_root "[ -x /opt/torch/.venv/bin/python3 ] || python3 -m venv /opt/torch/.venv
         python3 -c 'import importlib.metadata as m; assert m.version(\"torch\") == \"$torch_version\"' \
           2>/dev/null || pip install -q torch==$torch_version"
say "the root's -dev packages (the compiler's own only):"
in_root 'dpkg -l | grep -- -dev | awk "{print \"  \" \$2, \$3}"'
say "in the root: $(in_root 'g++ --version | head -1; cmake --version | head -1; echo ninja $(ninja --version);
  python3 -c "import torch, sys; print(\"python\", sys.version.split()[0], \"torch\", torch.__version__, torch.version.cuda)";
  nvcc --version | tail -1' | paste -sd'|' | sed 's/|/; /g')"

# The working tree as the device tool sends it, plus the bundle; the last build-gpu/ is kept.
mkdir -p "$root$repo"
find "$root$repo" -mindepth 1 -maxdepth 1 ! -name build-gpu -exec rm -rf {} +
[ "${PROOF_CLEAN:-0}" = 1 ] && rm -rf "$root$repo/build-gpu"
{ git ls-files -z -co --exclude-standard; printf 'gpu-bundle\0'; } |
  tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$root$repo"
say "copied $(find "$root$repo" -path "$root$repo/build-gpu" -prune -o -type f -print | wc -l) files to $repo"

say "GPU_CHECK_BUILD_ONLY=1 scripts/gpu-check.sh (log: $dir/build.log)"
in_root "cd $repo && GPU_CHECK_BUILD_ONLY=1 scripts/gpu-check.sh" 2>&1 | tee "$dir/build.log"

# Every library the binaries load, and where from.
check_ldd() {
  local binary=$1 bad=0 line name path from
  say "ldd $binary:"
  while read -r line; do
    name=${line%% *}
    path=$(sed -n 's/.*=> \([^ ]*\) (0x.*/\1/p' <<<"$line")
    [[ $line = /* ]] && path=${line%% *}
    case "$path" in
      "") [[ $name = linux-vdso* ]] && from=kernel || from="NOT FOUND" ;;
      $repo/gpu-bundle/*) from=bundle ;;
      */site-packages/*) from=wheel ;;
      *) if [[ $(basename "$path") =~ ^(libc|libm|libdl|libpthread|librt|libutil|libresolv|ld-linux-x86-64)\.so ]]; then
           from=glibc
         elif [[ $(basename "$path") =~ ^(libstdc\+\+|libgcc_s)\.so ]]; then
           from=gcc-runtime
         else
           from="ELSEWHERE"
         fi ;;
    esac
    [[ $from = "NOT FOUND" || $from = ELSEWHERE ]] && bad=$((bad + 1))
    printf '  %-12s %s\n' "$from" "$line"
  done < <(in_root "ldd $repo/$binary")
  [ "$bad" -eq 0 ] || fail "$binary loads $bad libraries from outside the bundle, the wheel and the C/C++ runtime"
}
check_ldd build-gpu/parallax
check_ldd build-gpu/tests/parallax_cuda_tests

say "a CPU run of a few steps:"
in_root "cd /tmp && rm -rf smoke && $repo/build-gpu/parallax train --model resnet18 --dataset synthetic \
  --image-size 32 --synthetic-train 64 --synthetic-test 32 --batch-size 16 --eval-batch-size 32 \
  --steps 3 --device cpu --threads 2 --no-checkpoint --out /tmp/smoke"
in_root "python3 -c 'import json; s = json.load(open(\"/tmp/smoke/summary.json\"));
print(\"summary.json:\", {k: s.get(k) for k in (\"status\", \"torch_version\", \"cuda_compiled\")})'"
say "parallax data download, built without it:"
rc=0; in_root "$repo/build-gpu/parallax data download cifar10 --dir /tmp/c10" || rc=$?
[ "$rc" -eq 2 ] || fail "parallax data download exited $rc, not 2"
say "exit code $rc"
say "the cuda tests, with no GPU here (each skips, saying why):"
in_root "$repo/build-gpu/tests/parallax_cuda_tests --gtest_brief=1 2>&1 | tail -4"

if [ "${PIP_CMAKE_VERSION:-latest}" != none ]; then
  spec=cmake; [ "${PIP_CMAKE_VERSION:-latest}" = latest ] || spec="cmake==$PIP_CMAKE_VERSION"
  in_root "[ -x /opt/pip-cmake/bin/cmake ] && [ '$spec' = cmake ] || {
             python3 -m venv /opt/pip-cmake && /opt/pip-cmake/bin/pip install -q '$spec'; }"
  say "configure only, with PyPI's CMake $(in_root '/opt/pip-cmake/bin/cmake --version | head -1'):"
  in_root "cd $repo && rm -rf build-pipcmake && /opt/pip-cmake/bin/cmake -S . -B build-pipcmake -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DPARALLAX_TORCH_ROOT=\$(python3 -c 'import importlib.util as u;
print(u.find_spec(\"torch\").submodule_search_locations[0])') -DPARALLAX_BUNDLE=$repo/gpu-bundle 2>&1 |
    grep -E '^-- (parallax|Configuring|Generating)|Error' ; rm -rf build-pipcmake"
fi
say "done in $((SECONDS - start)) s; bundle $(du -sh gpu-bundle | cut -f1)"
