#!/usr/bin/env bash
# Makes gpu-bundle/: everything parallax's GPU build needs beyond a pip torch, CMake, ninja and a
# compiler, for a lent GPU machine that has none of the Debian -dev packages (and no network).
# Run it here, on the Debian machine where scripts/install-deps.sh installed them; git ignores the
# folder, and the device tool carries it there with the working tree (64 MiB in all, hence the
# size limit). scripts/gpu-check.sh builds against it (cmake -DPARALLAX_BUNDLE=<dir>,
# cmake/gpu_bundle.cmake); scripts/gpu-bundle-proof.sh proves that in a bare Debian root.
#
# What goes in, in Debian's own layout (so its CMake package files work unchanged):
#   include/            headers: gloo (the wheel has none), CLI11, nlohmann_json, yaml-cpp,
#                       SQLite, zlib, GoogleTest/GMock, and the Boost headers boost/crc.hpp reaches
#   protobuf/include/   Debian's protobuf headers, kept apart: only the TensorBoard writer sees them
#   proto/              the code Debian's protoc generates from src/metrics/tensorboard_event.proto
#   lib/<multiarch>/    libyaml-cpp, libsqlite3, libz, libprotobuf (shared, with every library
#                       they load but glibc, libstdc++ and libgcc_s), GoogleTest's static archives,
#                       and the GTest and yaml-cpp CMake package files
#   share/cmake/        the nlohmann_json and CLI11 CMake package files
#   bundle.cmake        what cmake/gpu_bundle.cmake checks: the layout and the .proto's hash
#   MANIFEST            the Debian packages copied from, with versions
# Not in it: libcurl, libarchive and OpenSSL (their libraries and dependencies, ICU's data among
# them, come to over 50 MB), so the GPU build has no `parallax data download` (PARALLAX_DOWNLOAD).
#
# Usage: scripts/gpu-bundle.sh [DIR]      (DIR: gpu-bundle, at the repository root)
# Env:   BUNDLE_MAX_MIB (48): fail when the folder is larger than this.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-bundle}
max_mib=${BUNDLE_MAX_MIB:-48}
arch=$(gcc -print-multiarch)
libdir=/usr/lib/$arch

fail() { echo "gpu-bundle: $*" >&2; exit 2; }
packages=(libgloo-dev libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libsqlite3-dev zlib1g-dev
          libgtest-dev libgmock-dev libprotobuf-dev protobuf-compiler libboost-dev)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    fail "Debian package $p is missing: run scripts/install-deps.sh first"
done

tmp="$out.tmp"
rm -rf "$tmp"
mkdir -p "$tmp/include" "$tmp/protobuf/include/google" "$tmp/proto" "$tmp/lib/$arch/cmake" \
         "$tmp/share/cmake"

# Headers: whole folders where a package is headers only and small, single files otherwise.
cp -a /usr/include/{gloo,CLI,nlohmann,yaml-cpp,gtest,gmock} "$tmp/include/"
cp -a /usr/include/{sqlite3.h,sqlite3ext.h,zlib.h,zconf.h} "$tmp/include/"
cp -a /usr/include/google/protobuf "$tmp/protobuf/include/google/"
# Boost: only what boost/crc.hpp includes, as the compiler finds it in both language modes the
# build may use (C++17 for LibTorch before 2.13, C++20 after); version.hpp for CMake's FindBoost.
boost_headers() {
  printf '#include <boost/crc.hpp>\n#include <boost/version.hpp>\n' |
    g++ "-std=$1" -M -x c++ - | tr ' \\' '\n\n' | grep '^/usr/include/boost/'
}
{ boost_headers c++17; boost_headers c++20; } | sort -u | while read -r h; do
  mkdir -p "$tmp/include/$(dirname "${h#/usr/include/}")"
  cp -a "$h" "$tmp/include/${h#/usr/include/}"
done

# A library's name chain as Debian installs it (libz.so -> libz.so.1 -> libz.so.1.2.13): the file
# itself, each link remade beside it by name (Debian's may be absolute), and a link for the soname
# (the name binaries ask for), so the CMake package files' paths and the loader both find it.
copy_chain() {
  local f=$1 real dest=$tmp/lib/$arch soname
  real=$(readlink -f "$f")
  cp -a "$real" "$dest/"
  while [ -L "$f" ]; do
    ln -sfn "$(basename "$(readlink -f "$f")")" "$dest/$(basename "$f")"
    local target
    target=$(readlink "$f")
    [[ $target = /* ]] && f=$target || f=$(dirname "$f")/$target
  done
  soname=$(readelf -d "$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  [ -z "$soname" ] || [ -e "$dest/$soname" ] || ln -s "$(basename "$real")" "$dest/$soname"
}
# What the machine gives every program; anything else a bundled library loads comes along.
is_base() {
  [[ $(basename "$1") =~ ^(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|ld-linux-x86-64)\.so ]]
}
for lib in libyaml-cpp.so libsqlite3.so libz.so libprotobuf.so; do
  copy_chain "$libdir/$lib"
  # ldd lists the whole closure, dependencies of dependencies included.
  ldd "$(readlink -f "$libdir/$lib")" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' |
    while read -r dep; do is_base "$dep" || copy_chain "$dep"; done
done
cp -a "$libdir"/{libgtest.a,libgtest_main.a,libgmock.a,libgmock_main.a} "$tmp/lib/$arch/"
cp -a "$libdir/cmake/GTest" "$libdir/cmake/yaml-cpp" "$tmp/lib/$arch/cmake/"
cp -a /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 "$tmp/share/cmake/"

# The TensorBoard event code, from the protoc that matches the headers above: the GPU machine's
# only protoc is the wheel's, which must never meet Debian's libprotobuf.
proto=src/metrics/tensorboard_event.proto
protoc --cpp_out="$tmp/proto" -I src "$proto"
proto_version=$(protoc --version | awk '{print $2}')

cat > "$tmp/bundle.cmake" <<EOF
# Written by scripts/gpu-bundle.sh; read by cmake/gpu_bundle.cmake.
set(PARALLAX_BUNDLE_MULTIARCH "$arch")
set(PARALLAX_BUNDLE_PROTO_SHA256 "$(sha256sum "$proto" | cut -d' ' -f1)")
set(PARALLAX_BUNDLE_PROTOBUF_VERSION "$proto_version")
EOF
{
  echo "Made by scripts/gpu-bundle.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(. /etc/os-release; echo "$PRETTY_NAME"):"
  dpkg-query -W -f='${Package} ${Version}\n' "${packages[@]}"
  echo "protoc $proto_version generated proto/ from $proto"
} > "$tmp/MANIFEST"

bytes=$(du -sb "$tmp" | cut -f1)
mib=$(( (bytes + (1 << 20) - 1) >> 20 ))
if [ "$mib" -gt "$max_mib" ]; then
  rm -rf "$tmp"
  fail "the bundle would be $mib MiB, over the $max_mib MiB limit (BUNDLE_MAX_MIB)"
fi
rm -rf "$out"
mv "$tmp" "$out"
echo "gpu-bundle: $out/ holds $(find "$out" -type f | wc -l) files, $(du -sh "$out" | cut -f1) ($mib MiB of $max_mib allowed)"
