// TensorParallel: SingleDevice's step over a split model, with the split loss, accuracy and
// gradient norm, and one device's checkpoint layout.
#include "parallel/tensor_parallel_strategy.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "config/user_error.h"
#include "distributed/collectives.h"
#include "optim/optimizer.h"
#include "metrics/clock.h"
#include "metrics/timeline.h"
#include "parallel/vocab_parallel.h"

namespace parallax {
namespace {

std::shared_ptr<ModelBlocks> split(std::shared_ptr<ModelBlocks> model, const Config& cfg,
                                   const std::shared_ptr<TensorParallelLayers>& layers) {
  if (cfg.dropout > 0)
    throw UserError("--strategy tensor: --dropout " + std::to_string(cfg.dropout) +
                    " needs per-rank random streams in the split regions, not built yet; give "
                    "--dropout 0");
  model->split_layers(layers);
  return model;
}

// Sums `tensors` over `group` in place through one flat buffer (allocated on the first call,
// reused after: the same tensors every step), and returns that buffer.
torch::Tensor sum_through_flat(std::vector<torch::Tensor>& tensors, torch::Tensor& buffer,
                               const compat::Group& group, const char* purpose) {
  if (!buffer.defined()) {
    int64_t total = 0;
    for (const auto& t : tensors) total += t.numel();
    buffer = torch::empty({total}, tensors.front().options());
  }
  int64_t at = 0;
  for (const auto& t : tensors) {
    buffer.narrow(0, at, t.numel()).copy_(t.reshape(-1));
    at += t.numel();
  }
  std::vector<torch::Tensor> flat{buffer};
  all_reduce_sum(group, flat, purpose)->wait();
  at = 0;
  for (auto& t : tensors) {
    t.copy_(buffer.narrow(0, at, t.numel()).view(t.sizes()));
    at += t.numel();
  }
  return buffer;
}

}  // namespace

TensorParallel::TensorParallel(const Config& cfg, const DistContext& ctx,
                               std::shared_ptr<ModelBlocks> model,
                               std::shared_ptr<TensorParallelLayers> layers)
    : SingleDevice(cfg, ctx, split(std::move(model), cfg, layers)),
      layers_(std::move(layers)),
      world_pg_(ctx.world_pg),
      dp_pg_(ctx.dp_pg),
      world_(ctx.world),
      dp_size_(ctx.dp_size),
      on_device_streams_(ctx.tp_pg && runs_on_device_streams(ctx.tp_pg)) {
  for (const auto& s : layers_->shards()) sharded_.insert(s.param.unsafeGetTensorImpl());
  if (trace_) layers_->context().timeline = &trace_->timeline();
}

StepStats TensorParallel::train_step(const Batch& batch) {
  const TpTraffic before = layers_->context().traffic;
  StepStats stats = SingleDevice::train_step(batch);
  last_step_ = layers_->context().traffic - before;
  // Nothing overlaps tensor parallelism's all-reduces: the step waited for all of them.
  if (!on_device_streams_) stats.comm_s = last_step_.seconds;
  // The global batch's figures: every rank of a replica holds its replica's (the same), so the
  // sums over the world count each replica tp times. A stop asked of one rank stops them all.
  const double t = layers_->degree();
  const auto sums =
      HostSum(world_pg_,
              torch::tensor({stats.loss, static_cast<double>(stats.correct),
                             static_cast<double>(stats.images), stats.stop ? 1.0 : 0.0},
                            torch::kDouble)
                  .to(device_),
              device_, "tp step sums: loss, accuracy, samples, stop")
          .host();
  const double* v = sums.data_ptr<double>();
  stats.loss = v[0] / world_;
  stats.correct = static_cast<int64_t>(std::llround(v[1] / t));
  stats.images = static_cast<int64_t>(std::llround(v[2] / t));
  stats.stop = v[3] > 0;
  return stats;
}

EvalStats TensorParallel::evaluate(Loader& test) {
  EvalStats local = SingleDevice::evaluate(test);
  if (dp_size_ == 1) return local;
  const double t = layers_->degree();
  const auto sums = HostSum(world_pg_,
                            torch::tensor({local.loss_sum, static_cast<double>(local.correct),
                                           static_cast<double>(local.total)},
                                          torch::kDouble)
                                .to(device_),
                            device_, "tp evaluation sums")
                        .host();
  const double* v = sums.data_ptr<double>();
  EvalStats all;
  all.loss_sum = v[0] / t;
  all.correct = static_cast<int64_t>(std::llround(v[1] / t));
  all.total = static_cast<int64_t>(std::llround(v[2] / t));
  return all;
}

void TensorParallel::reduce_gradients() {
  torch::NoGradGuard no_grad;
  // Sequence parallelism: each rank's replicated parameters (LayerNorms, row-parallel biases, the
  // position embedding) saw only its tokens, so their gradients are summed over the group.
  if (layers_->sequence_parallel()) {
    std::vector<torch::Tensor> replicas;
    for (const auto& p : model_->parameters())
      if (!sharded_.count(p.unsafeGetTensorImpl()) && p.grad().defined())
        replicas.push_back(p.grad());
    auto& tp = layers_->context();
    const Stopwatch watch;
    const double start_us = tp.timeline ? tp.timeline->now_us() : 0;
    const auto flat =
        sum_through_flat(replicas, flat_replica_grads_, tp.group, "sp replicated gradients");
    ++tp.traffic.backward_all_reduces;
    tp.traffic.backward_elements += flat.numel();
    record_tp_collective(tp, "sp replicated gradients", flat, start_us, watch.seconds());
  }
  if (dp_size_ == 1) return;
  // Every replica sends every gradient (a parameter left out of the graph counts as zero), and
  // the sum over replicas divided by their count is the global batch's mean.
  std::vector<torch::Tensor> grads;
  for (auto& p : model_->parameters()) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  sum_through_flat(grads, flat_grads_, dp_pg_, "tp replicas' gradient all-reduce");
  for (auto& g : grads) g.div_(dp_size_);
}

torch::Tensor TensorParallel::loss_of(const torch::Tensor& logits, const torch::Tensor& labels) {
  // A language model's logits are split by vocabulary; a classifier's (vit's) are whole.
  if (!model_->token_input()) return SingleDevice::loss_of(logits, labels);
  return vocab_parallel_cross_entropy(logits, labels, layers_->context());
}

torch::Tensor TensorParallel::correct_of(const torch::Tensor& logits,
                                         const torch::Tensor& labels) {
  if (!model_->token_input()) return SingleDevice::correct_of(logits, labels);
  torch::NoGradGuard no_grad;
  auto& tp = layers_->context();
  const auto [top, index] = logits.max(-1);
  const auto mine = top.to(torch::kDouble);
  std::vector<torch::Tensor> best{mine.clone()};
  all_reduce_max(tp.group, best, "tp accuracy: largest logit")->wait();
  // The lowest whole-vocabulary index holding the largest logit, as argmax picks on one device:
  // the max over ranks of minus the index, where a rank without it offers minus infinity.
  const auto start = static_cast<double>(logits.size(-1)) * tp.rank;
  std::vector<torch::Tensor> pick{torch::where(mine == best[0], -(index.to(torch::kDouble) + start),
                                               torch::full_like(mine, -std::numeric_limits<double>::infinity()))};
  all_reduce_max(tp.group, pick, "tp accuracy: its index")->wait();
  return (-pick[0]).to(torch::kLong).eq(labels).sum();
}

torch::Tensor TensorParallel::whole_squared_grad_norm() {
  std::vector<torch::Tensor> split_params, replicas;
  for (const auto& p : model_->parameters())
    (sharded_.count(p.unsafeGetTensorImpl()) ? split_params : replicas).push_back(p);
  std::vector<torch::Tensor> sum{squared_grad_norm(split_params)};
  all_reduce_sum(layers_->context().group, sum, "tp gradient norm")->wait();
  return sum[0] + squared_grad_norm(replicas);
}

torch::Tensor TensorParallel::gathered(const torch::Tensor& t,
                                       const TensorParallelLayers::Shard& shard) {
  auto& tp = layers_->context();
  auto sizes = shard.whole_sizes;
  sizes[0] += shard.padding;
  auto whole = torch::zeros(sizes, t.options());
  place_grouped_shard(whole, t.detach(), shard.dim, shard.groups, tp.rank, tp.world);
  std::vector<torch::Tensor> w{whole};
  all_reduce_sum(tp.group, w, "tp checkpoint gather")->wait();
  return shard.padding == 0 ? w[0] : w[0].narrow(0, 0, shard.whole_sizes[0]).clone();
}

void TensorParallel::save(torch::serialize::OutputArchive& archive) {
  // One device's layout: each split parameter and its optimizer state made whole for the write,
  // then this rank's shards again.
  // The archive refers to the parameters until it is written: they stay whole until then
  // (checkpoint_written).
  torch::NoGradGuard no_grad;
  checkpoint_written();  // a save that was never written
  for (const auto& s : layers_->shards()) {
    own_.push_back(s.param.detach());
    own_state_.push_back(get_param_state(*optimizer_, s.param));
    if (own_state_.back()) {
      ParamState whole = *own_state_.back();
      for (auto& [name, t] : whole.tensors) t = gathered(t, s);
      set_param_state(*optimizer_, s.param, whole);
    }
    s.param.set_data(gathered(s.param, s));
  }
  save_with(archive, *optimizer_);
}

void TensorParallel::checkpoint_written() {
  const auto& shards = layers_->shards();
  for (size_t i = 0; i < own_.size(); ++i) {
    shards[i].param.set_data(own_[i]);
    if (own_state_[i]) set_param_state(*optimizer_, shards[i].param, *own_state_[i]);
  }
  own_.clear();
  own_state_.clear();
}

void TensorParallel::load(torch::serialize::InputArchive& archive) {
  torch::NoGradGuard no_grad;
  auto& tp = layers_->context();
  for (const auto& s : layers_->shards())
    s.param.set_data(torch::zeros(s.whole_sizes, s.param.options()));
  load_with(archive, *optimizer_);
  for (const auto& s : layers_->shards()) {
    s.param.set_data(shard_of_whole(s.param, s, tp.rank, tp.world));
    if (auto state = get_param_state(*optimizer_, s.param)) {
      for (auto& [name, t] : state->tensors) t = shard_of_whole(t, s, tp.rank, tp.world);
      set_param_state(*optimizer_, s.param, *state);
    }
  }
}

namespace {

// The parts of the whole that `s` gives TP rank `rank` of `world`, as elements of its shard.
std::vector<KeptPart> shard_parts(const std::string& name, const TensorParallelLayers::Shard& s,
                                  int rank, int world) {
  std::vector<KeptPart> parts;
  const int64_t whole = s.whole_sizes[s.dim], padded = whole + s.padding;
  const int64_t group = padded / s.groups, part = group / world;
  for (int64_t g = 0; g < s.groups; ++g) {
    // Padding rows (a vocabulary that does not split evenly) lie past the whole: not saved.
    const int64_t start = g * group + rank * part;
    const int64_t length = std::min(start + part, whole) - start;
    if (length <= 0) continue;
    KeptPart p;
    p.name = name;
    p.where.whole_sizes = s.whole_sizes;
    p.where.cut = StatePiece::Cut::kAlongDim;
    p.where.dim = s.dim;
    p.where.start = start;
    p.where.length = length;
    p.of = [dim = s.dim, at = g * part, length](const torch::Tensor& t) {
      return t.narrow(dim, at, length);
    };
    parts.push_back(std::move(p));
  }
  return parts;
}

}  // namespace

std::vector<StatePiece> TensorParallel::state_pieces(const OptimizerStateSpec* load) {
  std::map<const void*, const TensorParallelLayers::Shard*> shard_of;
  for (const auto& s : layers_->shards()) shard_of[s.param.unsafeGetTensorImpl()] = &s;
  const auto& tp = layers_->context();
  std::vector<StatePiece> out;
  for (const auto& p : model_->named_parameters()) {
    const auto it = shard_of.find(p.value().unsafeGetTensorImpl());
    if (it == shard_of.end())
      add_kept_pieces(out, p.value(), {whole_part(p.key(), p.value())},
                      replica_ == 0 && tp.rank == 0, optimizer_.get(), load);
    else
      add_kept_pieces(out, p.value(), shard_parts(p.key(), *it->second, tp.rank, tp.world),
                      replica_ == 0, optimizer_.get(), load);
  }
  add_buffer_pieces(out, replica_ == 0 && tp.rank == 0);
  return out;
}

nlohmann::json TensorParallel::details() const {
  const auto& t = last_step_;
  return {{"tensor_parallel",
           {{"degree", layers_->degree()},
            {"data_parallel_replicas", dp_size_},
            {"sequence_parallel", layers_->sequence_parallel()},
            {"split_parameters", layers_->shards().size()},
            {"last_step",
             {{"forward_all_reduces", t.forward_all_reduces},
              {"forward_elements", t.forward_elements},
              {"backward_all_reduces", t.backward_all_reduces},
              {"backward_elements", t.backward_elements},
              {"forward_reduce_scatters", t.forward_reduce_scatters},
              {"forward_all_gathers", t.forward_all_gathers},
              {"backward_reduce_scatters", t.backward_reduce_scatters},
              {"backward_all_gathers", t.backward_all_gathers},
              {"bytes", t.bytes},
              // Gloo's all-reduces complete before the host goes on; NCCL's are only queued then
              // (their time would need CUDA events): not reported as a wait there.
              {"seconds", on_device_streams_ ? nlohmann::json() : nlohmann::json(t.seconds)}}}}}};
}

}  // namespace parallax
