// SyncBatchNorm (--sync-bn): BatchNorm whose batch statistics, and their gradients, are taken over
// every rank's share of the global batch, so N ranks train as one device with the whole batch.
#pragma once
#include <torch/types.h>

#include "distributed/torch_compat.h"
#include "models/blocks.h"

namespace parallax {

// Training-mode BatchNorm of x (N, C, H, W) with statistics over all ranks of group: one
// all-reduce of 2C values in forward and one in backward. Updates bn's running statistics with
// the global mean and unbiased variance. Every rank must hold the same batch size.
torch::Tensor sync_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x,
                              const compat::Group& group, int world);

// The override that makes a model's BatchNorm layers synchronised (ModelBlocks::set_norm_override).
NormOverride sync_batch_norm_over(compat::Group group, int world);

}  // namespace parallax
