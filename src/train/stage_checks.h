// Pipeline settings that would fail inside every rank (the cut, the pieces, the schedule's
// micro-batch count), checked once before any rank starts: one UserError line.
#pragma once
#include "config/config.h"
#include "distributed/dist_context.h"

namespace parallax {

void check_stages(const Config& cfg, const Topology& topo);

}  // namespace parallax
