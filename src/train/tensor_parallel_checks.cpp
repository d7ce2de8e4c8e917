// Tensor-parallel checks on the config alone, with the named model's sizes.
#include "train/tensor_parallel_checks.h"

#include <string>

#include "config/user_error.h"
#include "models/gpt.h"
#include "models/make_model.h"
#include "models/vit.h"

namespace parallax {

void check_tensor_parallel(const Config& cfg, const Topology& topo) {
  if (cfg.strategy != "tensor") return;
  const std::string tp = "--tp " + std::to_string(topo.tp);
  const bool vit = cfg.model.rfind("vit", 0) == 0;
  if (!is_language_model(cfg.model) && !vit)
    throw UserError("--strategy tensor: " + cfg.model +
                    " has no layers tensor parallelism splits (gpt's and vit's have); use "
                    "another --strategy");
  if (cfg.dropout > 0)
    throw UserError("--strategy tensor: --dropout " + std::to_string(cfg.dropout) +
                    " needs per-rank random streams in the split regions, not built yet; give "
                    "--dropout 0");
  const int64_t heads = cfg.heads > 0 ? cfg.heads
                        : vit        ? vit_spec(cfg.model, 32, 3, 10).heads
                                     : gpt_spec(cfg.model).heads;
  if (heads % topo.tp != 0)
    throw UserError(tp + ": " + std::to_string(heads) + " attention heads do not split over " +
                    std::to_string(topo.tp) + " ranks; give a --tp that divides them");
  if (cfg.sequence_parallel) {
    if (vit)
      throw UserError("--sequence-parallel: gpt only for now (vit's class token and patches do "
                      "not split evenly); leave it out for " + cfg.model);
    const int64_t context = context_of(cfg.model, cfg.context);
    if (context % topo.tp != 0)
      throw UserError("--sequence-parallel: a context of " + std::to_string(context) +
                      " tokens does not split over " + std::to_string(topo.tp) +
                      " ranks; give a --context that divides by " + std::to_string(topo.tp));
  }
}

}  // namespace parallax
