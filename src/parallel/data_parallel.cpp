// DataParallel: replicas start equal (broadcast), stay equal (same averaged gradients).
#include "parallel/data_parallel.h"

#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>

#include "data/loader.h"
#include "metrics/clock.h"

namespace parallax {

DataParallel::DataParallel(const Config& cfg, const DistContext& ctx,
                           std::shared_ptr<ModelBlocks> model)
    : SingleDevice(cfg, ctx, model), ctx_(ctx) {
  if (ctx.world == 1) return;  // one rank: nothing to reduce, SingleDevice's step serves
  if (const char* fault = std::getenv("PARALLAX_FAULT")) {
    int rank = -1;
    long long step = -1;
    if (std::sscanf(fault, "%d:%lld", &rank, &step) == 2 && rank == ctx.rank) fault_step_ = step;
  }
  broadcast_from_root(model_->parameters());
  ReducerOptions options;
  options.bucket_mb = cfg.bucket_mb;
  options.overlap = cfg.overlap;
  reducer_ = std::make_unique<GradReducer>(model_->parameters(), ctx.world_pg, ctx.world, options);
  step_sums_ = torch::zeros({3}, torch::TensorOptions().dtype(torch::kDouble).device(ctx.device));
}

void DataParallel::broadcast_from_root(std::vector<torch::Tensor> tensors) {
  if (tensors.empty()) return;
  // One flat broadcast per dtype instead of one per tensor.
  std::map<c10::ScalarType, std::vector<torch::Tensor>> by_type;
  for (auto& t : tensors) by_type[t.scalar_type()].push_back(t);
  for (auto& [type, group] : by_type) {
    std::vector<torch::Tensor> flat{torch::cat([&] {
      std::vector<torch::Tensor> parts;
      for (auto& t : group) parts.push_back(t.detach().reshape(-1));
      return parts;
    }())};
    ctx_.world_pg->broadcast(flat)->wait();
    int64_t offset = 0;
    torch::NoGradGuard no_grad;
    for (auto& t : group) {
      t.copy_(flat[0].narrow(0, offset, t.numel()).view_as(t));
      offset += t.numel();
    }
  }
}

StepStats DataParallel::train_step(const Batch& batch) {
  if (ctx_.world == 1) return SingleDevice::train_step(batch);
  exit_if_fault_injected();
  const Stopwatch watch;
  model_->train();
  // Gradients as none: autograd hands each hook a fresh gradient, the reducer copies it.
  for (auto& p : model_->parameters()) p.mutable_grad().reset();
  reducer_->prepare();
  auto logits = model_->forward(batch.images);
  auto loss = torch::nn::functional::cross_entropy(logits, batch.labels);
  loss.backward();
  const ReduceStats reduced = reducer_->finalize();
  optimizer_->step();

  // The step's loss and accuracy over the global batch, for the record.
  step_sums_[0] = loss.detach().to(torch::kDouble) * batch.size();
  step_sums_[1] = logits.detach().argmax(1).eq(batch.labels).sum().to(torch::kDouble);
  step_sums_[2] = static_cast<double>(batch.size());
  std::vector<torch::Tensor> sums{step_sums_};
  ctx_.world_pg->allreduce(sums)->wait();
  auto host = step_sums_.cpu();
  const double* v = host.data_ptr<double>();
  StepStats stats;
  stats.images = static_cast<int64_t>(v[2]);
  stats.loss = v[0] / v[2];
  stats.correct = static_cast<int64_t>(v[1]);
  stats.comm_s = reduced.wait_s;
  stats.compute_s = watch.seconds() - reduced.wait_s;
  return stats;
}

void DataParallel::exit_if_fault_injected() {
  if (steps_++ != fault_step_) return;
  std::fprintf(stderr, "PARALLAX_FAULT: rank %d exits at step %lld\n", ctx_.rank,
               static_cast<long long>(fault_step_));
  std::_Exit(17);  // as abruptly as a crash: no clean-up, no goodbye to the other ranks
}

EvalStats DataParallel::evaluate(Loader& test) {
  if (ctx_.world == 1) return SingleDevice::evaluate(test);
  // Running statistics differ per rank (each saw its own batches): take rank 0's, as PyTorch's
  // DDP does, so that every rank evaluates, and checkpoints, the same model.
  broadcast_from_root(model_->buffers());
  EvalStats local = SingleDevice::evaluate(test);
  auto sums = torch::tensor(
      {local.loss_sum, static_cast<double>(local.correct), static_cast<double>(local.total)},
      torch::kDouble);
  std::vector<torch::Tensor> t{sums};
  ctx_.world_pg->allreduce(t)->wait();  // shards are disjoint and complete: exact totals
  EvalStats global;
  global.loss_sum = sums[0].item<double>();
  global.correct = static_cast<int64_t>(sums[1].item<double>());
  global.total = static_cast<int64_t>(sums[2].item<double>());
  return global;
}

}  // namespace parallax
