// Tensor-parallel settings that would fail inside every rank (a model with no split layers,
// attention heads that do not divide by --tp, dropout), checked once before any rank starts:
// one UserError line. A vocabulary that does not divide is padded (parallel/tensor_parallel_layers.h).
#pragma once
#include "config/config.h"
#include "distributed/dist_context.h"

namespace parallax {

void check_tensor_parallel(const Config& cfg, const Topology& topo);

}  // namespace parallax
