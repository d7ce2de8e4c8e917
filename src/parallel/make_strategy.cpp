// make_strategy(): the one place that maps --strategy to an implementation.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "config/user_error.h"
#include "parallel/data_parallel.h"
#include "parallel/single.h"
#include "parallel/zero.h"
#include "parallel/strategy.h"

namespace parallax {

std::unique_ptr<Strategy> make_strategy(const Config& cfg, const DistContext& ctx,
                                        std::shared_ptr<ModelBlocks> model) {
  if (cfg.strategy == "single") return std::make_unique<SingleDevice>(cfg, ctx, std::move(model));
  if (cfg.strategy == "ddp") return std::make_unique<DataParallel>(cfg, ctx, std::move(model));
  if (cfg.strategy == "zero") return std::make_unique<Zero>(cfg, ctx, std::move(model));
  throw UserError("--strategy " + cfg.strategy +
                  ": not available in this build; use single, ddp or zero");
}

nlohmann::json Strategy::details() const {
  return nlohmann::json::object();
}

}  // namespace parallax
