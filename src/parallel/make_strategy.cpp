// make_strategy(): the one place that maps --strategy to an implementation.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <set>

#include "config/user_error.h"
#include "metrics/heap.h"
#include "models/recompute.h"
#include "parallel/data_parallel.h"
#include "parallel/pipeline.h"
#include "parallel/single.h"
#include "parallel/zero.h"
#include "parallel/zero3.h"
#include "parallel/strategy.h"
#include "parallel/tensor_parallel_strategy.h"

namespace parallax {

std::unique_ptr<Strategy> make_strategy(const Config& cfg, const DistContext& ctx,
                                        std::shared_ptr<ModelBlocks> model,
                                        const std::vector<int64_t>& sample_shape) {
  // Before any strategy hooks the blocks: every strategy and schedule recomputes alike.
  model->set_recompute(recompute_from_name(cfg.recompute));
  if (cfg.strategy == "single") return std::make_unique<SingleDevice>(cfg, ctx, std::move(model));
  if (cfg.strategy == "ddp") return std::make_unique<DataParallel>(cfg, ctx, std::move(model));
  if (cfg.strategy == "zero" && cfg.zero_stage == 3)
    return std::make_unique<Zero3>(cfg, ctx, std::move(model));
  if (cfg.strategy == "zero") return std::make_unique<Zero>(cfg, ctx, std::move(model));
  if (cfg.strategy == "tensor")
    return std::make_unique<TensorParallel>(
        cfg, ctx, std::move(model),
        std::make_shared<TensorParallelLayers>(ctx.tp_pg, ctx.tp_rank, ctx.tp_size,
                                               cfg.sequence_parallel));
  if (cfg.strategy == "model" || cfg.strategy == "pipeline" || cfg.strategy == "hybrid")
    return std::make_unique<Pipeline>(cfg, ctx, std::move(model), sample_shape);
  throw UserError("--strategy " + cfg.strategy +
                  ": unknown; use single, ddp, zero, model, pipeline, hybrid or tensor");
}

torch::Tensor squared_grad_norm(const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard no_grad;
  auto sum = torch::zeros({}, torch::TensorOptions()
                                  .dtype(torch::kDouble)
                                  .device(params.empty() ? torch::kCPU : params.front().device()));
  for (const auto& p : params)
    if (p.grad().defined()) sum += p.grad().norm().to(torch::kDouble).square();  // one pass, no copy
  return sum;
}

int64_t storage_bytes(const std::vector<torch::Tensor>& tensors) {
  std::set<const void*> seen;
  int64_t bytes = 0;
  for (const auto& t : tensors) {
    if (!t.defined() || !t.has_storage()) continue;
    const auto& storage = t.storage();
    if (!seen.insert(storage.unsafeGetStorageImpl()).second) continue;
    bytes += allocation_bytes(storage.data(), static_cast<int64_t>(storage.nbytes()), t.device());
  }
  return bytes;
}

nlohmann::json Strategy::details() const {
  return nlohmann::json::object();
}

nlohmann::json Strategy::checkpoint_extra() const {
  return nlohmann::json::object();
}

}  // namespace parallax
