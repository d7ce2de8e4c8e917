// Stage checks: the same partition, layout and schedule rules the ranks apply, run on the block
// names alone.
#include "train/stage_checks.h"

#include <algorithm>

#include "config/user_error.h"
#include "models/blocks.h"
#include "models/partition.h"
#include "models/make_model.h"
#include "parallel/micro_batches.h"
#include "parallel/schedule.h"

namespace parallax {

void check_stages(const Config& cfg, const Topology& topo) {
  if (cfg.strategy != "model" && cfg.strategy != "pipeline" && cfg.strategy != "hybrid") return;
  const auto names = make_model(model_spec(cfg, 3, 10, cfg.image_size))->block_names();
  if (topo.pp > static_cast<int>(names.size()))
    throw UserError("--nproc: " + std::to_string(topo.pp) + " pipeline stages, but " + cfg.model +
                    " has only " + std::to_string(names.size()) + " blocks to share among them; " +
                    "use at most " + std::to_string(names.size()) + " stages");
  const std::string schedule = cfg.strategy == "model" ? "gpipe" : cfg.pipeline_schedule;
  const auto layout =
      layout_for(schedule, topo.pp, cfg.virtual_stages > 0 ? cfg.virtual_stages : 2);
  if (layout.pieces() > static_cast<int>(names.size()))
    throw UserError("--virtual-stages: " + std::to_string(topo.pp) + " ranks x " +
                    std::to_string(layout.chunks) + " chunks = " +
                    std::to_string(layout.pieces()) + " pieces, but " + cfg.model + " has only " +
                    std::to_string(names.size()) + " blocks; use fewer chunks or ranks");
  if (!cfg.split_at.empty()) {
    const auto cuts = std::count(cfg.split_at.begin(), cfg.split_at.end(), ',') + 1;
    if (layout.chunks > 1 && cuts != layout.pieces() - 1)
      throw UserError("--split-at " + cfg.split_at + ": " + std::to_string(cuts) +
                      " cut(s), but " + schedule + " on " + std::to_string(topo.pp) +
                      " ranks cuts the model into " + std::to_string(layout.pieces()) +
                      " pieces (" + std::to_string(layout.chunks) + " per rank); give " +
                      std::to_string(layout.pieces() - 1) + " block names");
    partition_at(names, cfg.split_at, layout.pieces());
  }
  if (cfg.batch_size % topo.dp == 0 && cfg.strategy != "model") {
    const auto micro = micro_batch_sizes(cfg.batch_size / topo.dp, cfg.micro_batches,
                                         cfg.split_size, 4 * topo.pp);
    const auto why = schedule_problem(schedule, static_cast<int>(micro.size()), layout);
    if (!why.empty()) throw UserError("--pipeline-schedule: " + why);
  }
}

}  // namespace parallax
