// Pipeline: partition, schedule and executor wired together; the loss lives on the last stage,
// so the step's figures are summed over the world from the last stages.
#include "parallel/pipeline.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "config/user_error.h"
#include "data/loader.h"
#include "distributed/collectives.h"
#include "distributed/interrupt.h"
#include "metrics/clock.h"
#include "optim/grad_clip.h"
#include "optim/optimizer.h"
#include "parallel/micro_batches.h"
#include "parallel/schedule_simulator.h"

namespace parallax {
namespace {

std::vector<int64_t> per_sample(const std::vector<int64_t>& shape) {
  return {shape.begin() + 1, shape.end()};
}

}  // namespace

Pipeline::Pipeline(const Config& cfg, const DistContext& ctx, std::shared_ptr<ModelBlocks> model,
                   const std::vector<int64_t>& sample_shape)
    // The model stays on the CPU where it was built until the cut is chosen; then this rank
    // places its own stage's blocks on its device and frees all the others.
    : SingleDevice(cfg, ctx, std::move(model), /*place_model=*/false), cfg_(cfg), ctx_(ctx) {
  const int64_t batch = cfg.batch_size / ctx.dp_size;
  // Naive model parallelism is the pipeline with one micro-batch; the default is 4 per stage.
  train_micro_ = cfg.strategy == "model"
                     ? std::vector<int64_t>{batch}
                     : micro_batch_sizes(batch, cfg.micro_batches, cfg.split_size, 4 * ctx.stages);
  const int micro = static_cast<int>(train_micro_.size());
  std::vector<int64_t> input{1};
  input.insert(input.end(), sample_shape.begin(), sample_shape.end());
  std::vector<c10::ScalarType> out_dtypes;
  std::vector<std::vector<int64_t>> shapes;
  {
    // Under the CPU's autocast, in bf16 for any --precision (the CPU autocasts no fp16 in
    // LibTorch 1.13), standing for the run's: which blocks end in an op autocast lowers (a
    // convolution, a linear) and which in one that keeps the weights' dtype (a transformer's
    // residual sum over its fp32 stream). The latter cross the wire unlowered, as on one device.
    Precision probe = precision_;
    probe.compute = torch::kBFloat16;
    const AutocastGuard autocast(probe, torch::kCPU);
    shapes = block_output_shapes(*model_, input, torch::kCPU, &out_dtypes);
  }
  for (auto t : out_dtypes) reduced_outputs_.push_back(t == torch::kBFloat16);
  check_batch_norm_sizes(shapes);  // before profiling, which would trip on it
  schedule_name_ = cfg.strategy == "model" ? "gpipe" : cfg.pipeline_schedule;
  layout_ = layout_for(schedule_name_, ctx.stages, cfg.virtual_stages > 0 ? cfg.virtual_stages : 2);
  if (const auto why = schedule_problem(schedule_name_, micro, layout_); !why.empty())
    throw UserError("--pipeline-schedule: " + why);
  choose_partition(sample_shape);

  const auto all = model_->parameters();
  std::vector<size_t> mine = tally_pieces(all);  // this rank's: indices into parameters()
  record_block_sizes();
  split_ties();
  place_model();
  keep_stage_state(all, std::move(mine));
  for (const auto& t : stage_ties_)
    if (!t.owner) params_.push_back(t.copy);
  optimizer_ = make_optimizer(cfg, params_);  // this stage's parameters only
  make_executor(shapes);
  plan_ = all_schedules(schedule_name_, micro, layout_);
  schedule_ = plan_[ctx.stage];
  if (ctx.dp_size > 1) join_replicas();
}

std::vector<size_t> Pipeline::tally_pieces(const std::vector<torch::Tensor>& all) {
  const auto by_block = model_->parameter_indices_by_block();
  std::vector<size_t> mine;
  piece_numel_.assign(layout_.pieces(), 0);
  for (int g = 0; g < layout_.pieces(); ++g)
    for (size_t b = partition_.cuts[g]; b < partition_.cuts[g + 1]; ++b)
      for (size_t k : by_block[b]) {
        if (layout_.owner(g) == ctx_.stage) mine.push_back(k);
        piece_numel_[g] += all[k].numel();
      }
  return mine;
}

void Pipeline::record_block_sizes() {
  for (const auto& b : model_->blocks()) {
    std::vector<std::vector<int64_t>> sizes;
    for (const auto& t : state_of(*b.block)) sizes.push_back(t.sizes().vec());
    block_sizes_.push_back(std::move(sizes));
  }
}

void Pipeline::keep_stage_state(const std::vector<torch::Tensor>& all, std::vector<size_t> mine) {
  // This rank's parameters in model order (its chunks' blocks, whatever the piece order).
  std::sort(mine.begin(), mine.end());
  for (size_t k : mine) params_.push_back(all[k]);
  for (size_t b = 0; b < model_->blocks().size(); ++b)
    if (owns(b))
      for (const auto& t : model_->blocks()[b].block->buffers()) buffers_.push_back(t);
}

StageSpec Pipeline::stage_spec(const std::vector<std::vector<int64_t>>& shapes) const {
  StageSpec spec;
  spec.stage = ctx_.stage;
  spec.layout = layout_;
  for (int c = 0; c < layout_.chunks; ++c) {
    ChunkSpec chunk;
    chunk.piece = layout_.piece(ctx_.stage, c);
    chunk.begin = partition_.cuts[chunk.piece];
    chunk.end = partition_.cuts[chunk.piece + 1];
    if (chunk.piece > 0) {
      chunk.in_sample_shape = per_sample(shapes[chunk.begin - 1]);
      chunk.in_reduced = reduced_outputs_[chunk.begin - 1];
    }
    if (chunk.piece + 1 < layout_.pieces()) {
      chunk.out_sample_shape = per_sample(shapes[chunk.end - 1]);
      chunk.out_reduced = reduced_outputs_[chunk.end - 1];
    }
    spec.chunks.push_back(std::move(chunk));
  }
  return spec;
}

void Pipeline::make_executor(const std::vector<std::vector<int64_t>>& shapes) {
  executor_ = std::make_unique<StageExecutor>(
      *model_, stage_spec(shapes),
      StageGroups{ctx_.pp_pg, ctx_.pp_back_pg, ctx_.pp_reverse_pg, ctx_.pp_back_reverse_pg},
      ctx_.device, trace_.get());
  executor_->set_precision(precision_);
  executor_->set_not_activations([this] {
    std::vector<torch::Tensor> grads;
    for (const auto& p : params_) grads.push_back(p.grad());
    return storage_bytes(grads);
  });
}

void Pipeline::join_replicas() {
  // Replicas of a stage start equal, and stay equal by averaging their gradients.
  auto state = params_;
  state.insert(state.end(), buffers_.begin(), buffers_.end());
  broadcast_coalesced(ctx_.dp_pg, state, 0, "replicas' initial state");
  reducer_ =
      std::make_unique<GradReducer>(params_, ctx_.dp_pg, ctx_.dp_size, reducer_options(cfg_));
  reducer_->set_memory_probe(&probe_);
  reducer_->set_trace(trace_.get());
}

std::vector<torch::Tensor> Pipeline::state_of(const torch::nn::Module& block) {
  auto tensors = block.parameters();
  for (const auto& t : block.buffers()) tensors.push_back(t);
  return tensors;
}

bool Pipeline::owns(size_t block) const {
  return layout_.owner(piece_of(block)) == ctx_.stage;
}

int Pipeline::piece_of(size_t block) const {
  const auto& c = partition_.cuts;
  return static_cast<int>(std::upper_bound(c.begin(), c.end(), block) - c.begin()) - 1;
}

void Pipeline::place_model() {
  for (size_t b = 0; b < model_->blocks().size(); ++b) {
    if (owns(b))
      model_->blocks()[b].block->to(device_);
    else
      release_block(b);
  }
}

void Pipeline::release_block(size_t b) {
  torch::NoGradGuard no_grad;
  // Empty, but the same tensors with their dtype and number of dimensions (a checkpoint load's
  // optimizer over the whole model tells AdamW's groups by it): the module keeps its structure.
  for (auto& t : state_of(*model_->blocks()[b].block))
    t.set_data(torch::empty(std::vector<int64_t>(std::max<int64_t>(t.dim(), 1), 0), t.options()));
}

void Pipeline::materialize_block(size_t b) {
  torch::NoGradGuard no_grad;
  auto tensors = state_of(*model_->blocks()[b].block);
  for (size_t i = 0; i < tensors.size(); ++i)
    tensors[i].set_data(torch::empty(block_sizes_[b][i], tensors[i].options().device(device_)));
}

void Pipeline::check_batch_norm_sizes(const std::vector<std::vector<int64_t>>& shapes) const {
  if (cfg_.norm != "batch") return;
  // BatchNorm in training needs more than one value per channel; a micro-batch of one image at a
  // 1x1 feature map has one.
  const int64_t rows = *std::min_element(train_micro_.begin(), train_micro_.end());
  for (size_t b = 0; b < shapes.size(); ++b)
    if (shapes[b].size() == 4 && rows * shapes[b][2] * shapes[b][3] == 1)
      throw UserError("--split-size/--micro-batches: a micro-batch of 1 image reaches " +
                      model_->blocks()[b].name +
                      " as a 1x1 map, where BatchNorm has one value "
                      "per channel to normalise; use micro-batches of 2 or more, a larger "
                      "--image-size, or --norm none");
}

void Pipeline::choose_partition(const std::vector<int64_t>& sample_shape) {
  const std::string by = cfg_.split_at.empty() ? cfg_.balance : "params";
  std::vector<int64_t> input{train_micro_.front()};
  input.insert(input.end(), sample_shape.begin(), sample_shape.end());
  {
    // Profiled as the blocks will train, their forward under --precision's autocast. Each
    // block's backward runs inside the guard too: not how a step runs it, but only its timing
    // is kept, and that follows the forward's dtypes.
    const AutocastGuard autocast(precision_, ctx_.device);
    block_costs_ = block_costs(*model_, by, input, ctx_.device);
  }
  if (by == "time" && ctx_.world > 1) {
    // Each rank measured for itself; all must cut alike: the mean of every rank's profile.
    auto t = torch::tensor(block_costs_, torch::kDouble);
    t = sum_over_world(t, "block costs") / ctx_.world;
    block_costs_.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  }
  // Into stages x chunks pieces; rank s then holds its chunks' pieces (layout_).
  partition_ = cfg_.split_at.empty()
                   ? partition_balanced(block_costs_, layout_.pieces())
                   : partition_at(model_->block_names(), cfg_.split_at, layout_.pieces());
}

torch::Tensor Pipeline::sum_over_world(torch::Tensor t, const char* purpose) const {
  if (ctx_.world == 1) return t;
  return HostSum(ctx_.world_pg, t, ctx_.device, purpose).host();
}

StepStats Pipeline::train_step(const Batch& batch) {
  const Stopwatch watch;
  model_->train();
  clear_stage_grads();
  probe_.step_begin();
  trace_begin();
  executor_->set_loss_scale(loss_scale());
  if (reducer_) {
    // Each parameter's gradient is complete at its chunk's last backward of the step, whatever
    // order the schedule runs the chunks in; the earlier ones accumulate into its bucket.
    reducer_->prepare_accumulation(static_cast<int>(train_micro_.size()));
    reducer_->set_grad_scale(loss_scale());  // averaging unscales them too
  }
  StageTimes t = executor_->run(schedule_, train_micro_, batch, true);
  finish_gradients();
  sum_tied_gradients();
  probe_.activations(t.peak_activation_bytes);  // the executor's, from the allocator
  probe_.backward_end();
  if (reducer_) probe_.set_gradients(reducer_->measured_gradient_bytes());
  // The step's sums come from the last stages; summed over the world they cover every replica.
  HostSum step(ctx_.world > 1 ? ctx_.world_pg : compat::Group(), step_sums(t, batch), ctx_.device,
               "step sums: loss, accuracy, stop, norm");
  StepStats stats;
  torch::Tensor sums;
  if (precision_.loss_scaling) {
    // fp16: the gradient norm over every stage decides, alike on all, whether they update.
    sums = step.host();
    gate_update(sums.data_ptr<double>()[4], stats, sums.data_ptr<double>()[0]);
  }
  trace_boundary();  // the schedule's actions and the reducer's wait are laid by their owners
  // --grad-clip: by the whole model's norm, every stage's share summed in the step sums (the
  // update waits for them; on NCCL only the stream does).
  if (clips()) scale_gradients(params_, clip_factor(step.reduced()[4]));
  step_optimizer();
  record_optimizer_state();
  trace_phase("optimizer");
  if (!sums.defined()) sums = step.host();  // the step's host sync: the clock marks are complete
  executor_->settle(t);
  // ZB-V is planned again on the second step's profiled times (the first pays one-time costs).
  if (steps_ == 1 && layout_.v_shape) replan_zb_v(t);
  const ReduceStats reduced =
      reducer_ ? reducer_->timing(/*count=*/steps_ >= cfg_.timing_warmup) : ReduceStats{};
  trace_end();
  record_pass_times(t);
  read_step_sums(sums, t, reduced, stats);
  stats.compute_s = watch.seconds() - stats.idle_s - stats.comm_s;
  // An fp16 step that was skipped created no optimizer state: the next one is probed instead.
  if (!skip_update_) probe_.step_end();
  return stats;
}

void Pipeline::clear_stage_grads() {
  if (reducer_) {
    reducer_->zero_grad();  // its buckets are this stage's gradients
  } else {
    for (auto& p : params_) p.mutable_grad().reset();
  }
}

void Pipeline::finish_gradients() {
  if (reducer_) {
    reducer_->finalize();
  } else if (precision_.loss_scaling) {
    divide_gradients(params_, loss_scale());
  }
}

torch::Tensor Pipeline::squared_norm_share(const std::vector<torch::Tensor>& counted) const {
  // Once per replica in the world sum (hence / dp_size): hybrid's replicas hold the same average.
  return squared_grad_norm(counted) / static_cast<double>(ctx_.dp_size);
}

torch::Tensor Pipeline::step_sums(const StageTimes& t, const Batch& batch) const {
  // A tied copy (GPT's head apart from its embedding) is left out: the owner's rank counts it.
  const auto grad_norm_sq = squared_norm_share(norm_params());
  // Beside the loss, correct and images: whether any rank was asked to stop (SIGINT/SIGTERM), so
  // that all stop at this step.
  return torch::stack({t.loss_sum, t.correct,
                       torch::full({}, executor_->last() ? batch.size() : 0, t.loss_sum.options()),
                       torch::full({}, interrupt_requested() ? 1.0 : 0.0, t.loss_sum.options()),
                       grad_norm_sq.to(t.loss_sum.device())});
}

void Pipeline::record_pass_times(const StageTimes& t) {
  if (steps_++ >= cfg_.timing_warmup) {
    ++timed_steps_;
    totals_.wall_s += t.wall_s;
    totals_.busy_s += t.busy_s;
    totals_.recv_wait_s += t.recv_wait_s;
    totals_.send_wait_s += t.send_wait_s;
    totals_.action_s.resize(t.action_s.size());
    totals_.action_n.resize(t.action_n.size());
    for (size_t c = 0; c < t.action_s.size(); ++c)
      for (int k = 0; k < 4; ++k) {
        totals_.action_s[c][k] += t.action_s[c][k];
        totals_.action_n[c][k] += t.action_n[c][k];
      }
  }
  peak_activation_bytes_ = std::max(peak_activation_bytes_, t.peak_activation_bytes);
  held_micro_batches_ = std::max(held_micro_batches_, t.held_micro_batches);
}

void Pipeline::read_step_sums(const torch::Tensor& sums, const StageTimes& t,
                              const ReduceStats& reduced, StepStats& stats) const {
  const double* s = sums.data_ptr<double>();
  stats.images = static_cast<int64_t>(s[2]);
  stats.loss = s[0] / s[2];
  stats.correct = static_cast<int64_t>(s[1]);
  stats.stop = s[3] > 0;
  stats.grad_norm = std::sqrt(s[4]);
  stats.idle_s = t.wall_s - t.busy_s;  // this stage's bubble: waiting on its neighbours
  stats.comm_s = reduced.wait_s;
  stats.comm_busy_s = reduced.busy_s;
}

void Pipeline::replan_zb_v(const StageTimes& t) {
  // Every rank's F, I, W seconds per chunk, summed over the world: all plan from the same times.
  const int v = layout_.chunks, micro = static_cast<int>(train_micro_.size());
  auto mine = torch::zeros({ctx_.stages, v, 3}, torch::kDouble);
  for (int c = 0; c < v; ++c) {
    const int kinds[3] = {Action::kForward, Action::kInput, Action::kWeight};
    for (int k = 0; k < 3; ++k)
      if (t.action_n[c][kinds[k]] > 0)
        mine[ctx_.stage][c][k] = t.action_s[c][kinds[k]] / t.action_n[c][kinds[k]];
  }
  // Each stage's replicas (hybrid) all add theirs: their mean.
  const auto all = sum_over_world(mine, "zb-v action times") / ctx_.dp_size;
  std::vector<std::vector<std::array<double, 3>>> times(ctx_.stages,
                                                        std::vector<std::array<double, 3>>(v));
  for (int r = 0; r < ctx_.stages; ++r)
    for (int c = 0; c < v; ++c)
      for (int k = 0; k < 3; ++k) times[r][c][k] = all[r][c][k].item<double>();
  plan_ = zb_v_schedules(micro, ctx_.stages, &times);
  schedule_ = plan_[ctx_.stage];
  planned_on_profile_ = true;
}

EvalStats Pipeline::evaluate(Loader& test) {
  torch::NoGradGuard no_grad;
  model_->eval();
  // Replicas' running statistics differ (each saw its own batches): evaluate rank 0's, as ddp.
  if (reducer_ && !buffers_.empty())
    broadcast_coalesced(ctx_.dp_pg, buffers_, 0, "rank 0's buffers");
  auto loss_sum = torch::zeros({}, torch::kDouble), correct = torch::zeros({}, torch::kDouble);
  int64_t total = 0;
  for (int64_t i = 0; i < test.batches(); ++i) {
    const Batch b = test.batch(i);
    const int64_t rows = b.size();
    // As many micro-batches as in training (fewer for a small last batch).
    const auto sizes = micro_batch_sizes(rows, 0, 0, static_cast<int64_t>(train_micro_.size()));
    StageTimes t = executor_->run(
        forward_schedule(static_cast<int>(sizes.size()), layout_, ctx_.stage), sizes, b, false);
    loss_sum += t.loss_sum.cpu();
    correct += t.correct.cpu();
    executor_->settle(t);
    total += rows;
  }
  const double last = executor_->last() ? 1 : 0;
  auto sums = sum_over_world(
      torch::stack({loss_sum * last, correct * last, torch::full({}, total * last, torch::kDouble)}),
      "evaluation totals");
  EvalStats stats;
  stats.loss_sum = sums[0].item<double>();
  stats.correct = static_cast<int64_t>(sums[1].item<double>());
  stats.total = static_cast<int64_t>(sums[2].item<double>());
  return stats;
}

MemoryStats Pipeline::memory() const {
  return memory_of(params_);  // this stage's share of the model
}

}  // namespace parallax
