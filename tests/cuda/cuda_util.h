// cuda-labelled tests: skipped, with a message saying why, where there is no GPU or no CUDA build.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "metrics/system_info.h"

#define PARALLAX_REQUIRE_GPUS(n)                                                              \
  do {                                                                                        \
    if (!::parallax::cuda_compiled())                                                         \
      GTEST_SKIP() << "this build's LibTorch (" << ::parallax::torch_version()                \
                   << ") has no CUDA: build the torch2 flavour (scripts/build.sh --torch2)";  \
    if (::parallax::cuda_devices() < (n))                                                     \
      GTEST_SKIP() << "needs " << (n) << " GPU(s), this machine has "                         \
                   << ::parallax::cuda_devices();                                             \
  } while (0)
