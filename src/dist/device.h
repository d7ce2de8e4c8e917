// Device and thread set-up for a rank: --device and --threads turned into LibTorch settings.
#pragma once
#include <torch/types.h>

#include <string>

namespace parallax {

// "cpu", "cuda" or "cuda:N"; UserError if this LibTorch or machine has no such device.
torch::Device resolve_device(const std::string& name, int local_rank = 0);

// One intra-op pool of `threads` (0: every core), one inter-op thread; returns the count used.
int configure_threads(int threads);

}  // namespace parallax
