// DistContext: who this rank is and which device it drives (process groups arrive with issue 3).
#pragma once
#include <torch/types.h>

namespace parallax {

struct DistContext {
  int rank = 0, world = 1, local_rank = 0;
  torch::Device device = torch::kCPU;
};

}  // namespace parallax
