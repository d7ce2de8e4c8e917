// Tensor-parallel settings that would fail inside every rank (a model with no split layers,
// heads or a known vocabulary that do not divide by --tp, dropout), checked once before any rank
// starts: one UserError line. A vocabulary known only from the data (shakespeare's) is checked
// by the ranks, as the strategy splits it.
#pragma once
#include "config/config.h"
#include "distributed/dist_context.h"

namespace parallax {

void check_tensor_parallel(const Config& cfg, const Topology& topo);

}  // namespace parallax
