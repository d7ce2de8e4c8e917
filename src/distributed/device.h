// Device and thread set-up for a rank: --device and --threads turned into LibTorch settings.
#pragma once
#include <torch/types.h>

#include <string>

namespace parallax {

// The GPU index a local rank drives, given the GPUs this machine has. Pure (tested without a GPU).
// "cuda": local rank r takes GPU r; "cuda:N": GPU N. Several local ranks on one GPU is refused in
// one line (UserError) unless share (--share-gpu): then "cuda" maps rank r to GPU r mod gpus.
int gpu_for_rank(const std::string& name, int local_rank, int local_world, int gpus, bool share);

// "cpu", "cuda" or "cuda:N" for this local rank; for CUDA, also made the current device, before
// any CUDA work or NCCL set-up (else every rank would start a context on GPU 0). UserError if
// this LibTorch or machine has no such device.
torch::Device resolve_device(const std::string& name, int local_rank = 0, int local_world = 1,
                             bool share = false);

// One intra-op pool of `threads` (0: every core), one inter-op thread; returns the count used.
int configure_threads(int threads);

}  // namespace parallax
