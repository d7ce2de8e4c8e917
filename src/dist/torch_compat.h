// The version seam: everything that differs between LibTorch 1.13 (Debian) and 2.x lives here.
#pragma once
#include <torch/version.h>

#define PARALLAX_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||           \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace parallax::compat {

// The LibTorch this binary was compiled against, e.g. "1.13.0".
inline const char* torch_version() {
  return TORCH_VERSION;
}

}  // namespace parallax::compat
