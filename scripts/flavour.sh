# Sourced by the scripts: "--torch2" as the first argument picks the pip torch 2.x flavour (the
# virtual environment .venv/, build folder build-torch2/); otherwise Debian's LibTorch 1.13 (build/).
# Sets FLAVOUR, BUILD_DIR and, for torch2, VENV; shifts the flag off the caller's arguments.
FLAVOUR=debian
BUILD_DIR=build
VENV="$PWD/.venv"
if [ "${1:-}" = "--torch2" ]; then
  FLAVOUR=torch2
  BUILD_DIR=build-torch2
fi
# The site-packages folder of the venv's torch (without importing torch: that takes seconds).
torch2_root() {
  "$VENV/bin/python" -c \
    "import importlib.util as u; print(u.find_spec('torch').submodule_search_locations[0])"
}
