// AdamW's decoupled weight decay (p *= 1 - lr x wd) applied by the caller to parts of flat
// tensors: a ZeRO shard holds slices of many parameters, matrices that decay and biases or norm
// weights that do not, so its optimizer is built without decay (DecayRule::kCallerApplies) and
// the decayed parts of each shard are scaled here just before the step. AdamW scales a whole
// parameter by the same factor just before its update, so the two agree bit for bit.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "config/config.h"

namespace parallax {

// The decoupled decay the run asks for: --weight-decay under adamw; 0 under sgd and adam, which
// add theirs to the gradient inside the optimizer.
double decoupled_weight_decay(const Config& cfg);

// Elements [first, second) of `flat` scaled in place by 1 - lr x weight_decay (no autograd).
void apply_decoupled_decay(const torch::Tensor& flat,
                           const std::vector<std::pair<int64_t, int64_t>>& ranges, double lr,
                           double weight_decay);

}  // namespace parallax
