#!/usr/bin/env bash
# Installs every Debian package parallax needs to build, test and run; idempotent (skips what is there).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev libgloo-dev
  libcli11-dev nlohmann-json3-dev libsqlite3-dev libyaml-cpp-dev libgtest-dev
  gnuplot-nox fonts-dejavu-core chromium
  zlib1g-dev libcurl4-openssl-dev libarchive-dev
  libgoogle-perftools-dev libtcmalloc-minimal4 libopenblas0-openmp
  dataset-fashion-mnist
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
