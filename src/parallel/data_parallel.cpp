// DataParallel: replicas start equal (broadcast), stay equal (same averaged gradients).
#include "parallel/data_parallel.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "data/loader.h"
#include "distributed/collectives.h"
#include "distributed/interrupt.h"
#include "metrics/clock.h"
#include "models/task_loss.h"
#include "parallel/sync_batch_norm.h"

namespace parallax {

DataParallel::DataParallel(const Config& cfg, const DistContext& ctx,
                           std::shared_ptr<ModelBlocks> model)
    : SingleDevice(cfg, ctx, model),
      ctx_(ctx),
      accumulate_(cfg.accumulate),
      verify_replicas_(cfg.verify_replicas),
      timing_warmup_(cfg.timing_warmup) {
  if (ctx.world == 1) return;  // one rank: nothing to reduce, SingleDevice's step serves
  if (const char* fault = std::getenv("PARALLAX_FAULT")) {
    int rank = -1;
    long long step = -1;
    if (std::sscanf(fault, "%d:%lld", &rank, &step) == 2 && rank == ctx.rank) fault_step_ = step;
  }
  broadcast_from_root(model_->parameters());
  broadcast_from_root(model_->buffers());
  if (cfg.sync_bn) model_->set_norm_override(sync_batch_norm_over(ctx.world_pg, ctx.world));
  ReducerOptions options = reducer_options(cfg);
  options.shard = cfg.strategy == "zero";
  options.release_buckets = options.shard && cfg.zero_stage >= 2;
  options.rank = ctx.rank;
  if (options.shard && cfg.zero_stage == 3) {
    // ZeRO-3 gathers and frees parameters block by block: one bucket per block.
    const auto by_block = model_->parameter_indices_by_block();
    for (size_t b = 0; b < by_block.size(); ++b)
      for (size_t k = 0; k < by_block[b].size(); ++k) options.group_of.push_back(b);
  }
  reducer_ = std::make_unique<GradReducer>(model_->parameters(), ctx.world_pg, ctx.world, options);
  reducer_->set_memory_probe(&probe_);
  reducer_->set_trace(trace_.get());
  step_sums_ = torch::zeros({5}, torch::TensorOptions().dtype(torch::kDouble).device(ctx.device));
}

void DataParallel::broadcast_from_root(std::vector<torch::Tensor> tensors) {
  if (!tensors.empty()) broadcast_coalesced(ctx_.world_pg, tensors, 0, "rank 0's buffers");
}

StepStats DataParallel::train_step(const Batch& batch) {
  if (ctx_.world == 1) return SingleDevice::train_step(batch);
  exit_if_fault_injected();
  const Stopwatch watch;
  model_->train();
  // The buckets are the gradients: zeroed, autograd accumulates into them.
  reducer_->zero_grad();
  probe_.step_begin();
  trace_begin();
  step_sums_.zero_();
  const int64_t micro = batch.size() / accumulate_;
  for (int64_t m = 0; m < accumulate_; ++m) {
    const bool last = m + 1 == accumulate_;
    auto images = batch.images.narrow(0, m * micro, micro);
    auto labels = batch.labels.narrow(0, m * micro, micro);
    reducer_->prepare(/*sync=*/last);  // earlier micro-batches only accumulate
    // fp16: the buckets' averaging divides by the loss scale too (no pass of its own).
    reducer_->set_grad_scale(loss_scale());
    auto logits = forward_logits(images);
    auto loss = task_loss(logits.to(model_dtype_), labels);
    // The first micro-batch's: later ones find earlier micro-steps' gradients in place.
    if (m == 0) probe_.forward_end(transient_parameter_bytes());
    trace_phase("forward");
    // Divided by K so that K accumulated micro-batches give the gradient of the whole batch.
    scaled(accumulate_ > 1 ? loss / static_cast<double>(accumulate_) : loss).backward();
    step_sums_[0] += loss.detach().to(torch::kDouble) * micro;
    step_sums_[1] += correct_count(logits.detach(), labels).to(torch::kDouble);
    trace_phase("backward");
    if (last) reducer_->finalize();  // its wait is the reducer's to lay on the trace
    trace_boundary();
  }
  probe_.backward_end();
  probe_.set_gradients(reducer_->measured_gradient_bytes());
  // The step's loss and accuracy over the global batch, for the record; launched before the
  // update so that it is not queued behind ZeRO's parameter all-gathers.
  step_sums_[2] = static_cast<double>(micro * accumulate_);
  // Summed over ranks: one rank asked to stop is enough, and all learn it at this step.
  step_sums_[3] = interrupt_requested() ? 1.0 : 0.0;
  step_sums_[4] = reducer_->squared_norm_share();
  HostSum sums(ctx_.world_pg, step_sums_, ctx_.device, "step sums: loss, accuracy, stop, norm");
  StepStats stats;
  double update_wait_s = 0;
  torch::Tensor host;
  if (precision_.loss_scaling) {
    // fp16: the gradient norm over every rank decides, alike on all, whether the update runs.
    host = sums.host();
    gate_update(host.data_ptr<double>()[4], stats, host.data_ptr<double>()[0]);
    trace_boundary();  // the sums' host sync before the update: no phase of its own
    clip_gradients(sums);
    update_wait_s = update();
    trace_phase("optimizer");
  } else {
    clip_gradients(sums);
    update_wait_s = update();
    trace_phase("optimizer");
    host = sums.host();  // the step's one host sync
  }
  const ReduceStats reduced = reducer_->timing(/*count=*/steps_ > timing_warmup_);
  trace_end();
  const double* v = host.data_ptr<double>();
  stats.images = static_cast<int64_t>(v[2]);
  stats.loss = v[0] / v[2];
  stats.correct = static_cast<int64_t>(v[1]);
  stats.stop = v[3] > 0;
  stats.grad_norm = std::sqrt(v[4]);
  // NaN parameters differ from themselves: a diverged step is the trainer's to report.
  if (verify_replicas_ && std::isfinite(stats.loss) && std::isfinite(stats.grad_norm))
    verify_replicas();
  // exposed_comm_s(): e.g. this step's forward waiting for the last step's parameter all-gathers.
  stats.gather_wait_s = exposed_comm_s();
  stats.comm_s = reduced.wait_s + update_wait_s + stats.gather_wait_s;
  stats.comm_busy_s = reduced.busy_s;
  stats.compute_s = watch.seconds() - stats.comm_s;
  // An fp16 step that was skipped created no optimizer state: the next one is probed instead.
  if (!skip_update_) probe_.step_end();
  return stats;
}

void DataParallel::clip_gradients(HostSum& sums) {
  if (!clips()) return;
  // The whole gradient's norm is the step sums' (each rank's share, summed): the update waits
  // for that small all-reduce (on NCCL only the stream does), then every rank scales what it
  // keeps, whole buckets or its chunks, by the same factor.
  reducer_->scale_gradients(clip_factor(sums.reduced()[4]));
}

double DataParallel::update() {
  step_optimizer();
  record_optimizer_state();
  return 0;
}

nlohmann::json DataParallel::details() const {
  if (!reducer_) return nlohmann::json::object();
  nlohmann::json buckets = nlohmann::json::array();
  for (const auto& t : reducer_->timings()) {
    const double steps = std::max<int64_t>(1, t.steps);
    buckets.push_back({{"bytes", t.bytes},
                       {"mean_wait_s", t.wait_s / steps},
                       {"mean_in_flight_s", t.flight_s / steps}});
  }
  return {{"buckets", buckets}};
}

void DataParallel::verify_replicas() {
  settle_parameters();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (const auto& p : model_->parameters()) parts.push_back(p.reshape(-1));
  const auto mine = torch::cat(parts);
  std::vector<torch::Tensor> root{mine.clone()};
  broadcast(ctx_.world_pg, root, 0, "replica check")->wait();
  if (!torch::equal(root[0], mine))
    throw std::runtime_error("rank " + std::to_string(ctx_.rank) +
                             "'s parameters differ from "
                             "rank 0's after step " +
                             std::to_string(steps_ - 1));
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
  // Shards are disjoint and complete: exact totals.
  const auto sums = HostSum(ctx_.world_pg,
                            torch::tensor({local.loss_sum, static_cast<double>(local.correct),
                                           static_cast<double>(local.total)},
                                          torch::kDouble),
                            ctx_.device, "evaluation totals")
                        .host();
  EvalStats global;
  global.loss_sum = sums[0].item<double>();
  global.correct = static_cast<int64_t>(sums[1].item<double>());
  global.total = static_cast<int64_t>(sums[2].item<double>());
  return global;
}

void DataParallel::load(torch::serialize::InputArchive& archive) {
  SingleDevice::load(archive);
  if (reducer_) reducer_->hook_parameters();
}

}  // namespace parallax
