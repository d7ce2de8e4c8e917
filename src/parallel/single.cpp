// SingleDevice: forward, cross-entropy, backward, optimizer step; evaluation without autograd.
#include "parallel/single.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "data/loader.h"
#include "distributed/interrupt.h"
#include "metrics/clock.h"
#include "models/task_loss.h"
#include "optim/grad_clip.h"
#include "optim/optimizer.h"

namespace parallax {

SingleDevice::SingleDevice(const Config& cfg, const DistContext& ctx,
                           std::shared_ptr<ModelBlocks> model)
    : SingleDevice(cfg, ctx, std::move(model), /*place_model=*/true) {}

SingleDevice::SingleDevice(const Config& cfg, const DistContext& ctx,
                           std::shared_ptr<ModelBlocks> model, bool place_model)
    : Strategy(ctx.device),
      model_(std::move(model)),
      device_(ctx.device),
      precision_(precision_for(cfg, ctx.device)),
      scaler_(LossScalerOptions{cfg.loss_scale}),
      grad_clip_(cfg.grad_clip),
      model_dtype_(model_->scalar_type()),
      channels_last_(cfg.channels_last),
      replica_(ctx.dp_rank) {
  if (place_model) model_->to(device_);
  if (!precision_.warning.empty() && ctx.rank == 0)
    std::fprintf(stderr, "parallax: warning: %s\n", precision_.warning.c_str());
  // Memory is sampled as each gradient is about to arrive, in the probed steps (a no-op after),
  // so that the measured peak sees backward, where activations go as gradients come.
  for (auto& p : model_->parameters())
    p.register_hook([this](const torch::Tensor&) { probe_.sample(); });
  optimizer_ = make_optimizer(cfg, model_->parameters());
  if (cfg.trace) trace_ = std::make_unique<StepTrace>(ctx.rank, ctx.device);
}

void SingleDevice::write_trace(const std::string& path) const {
  if (trace_) trace_->timeline().write(path);
}

void SingleDevice::record_optimizer_state() {
  if (probe_.probing()) probe_.optimizer_end(storage_bytes(optimizer_state_tensors(*optimizer_)));
}

void SingleDevice::place_model() {
  model_->to(device_);
}

torch::Tensor SingleDevice::forward_logits(const torch::Tensor& images) {
  const AutocastGuard autocast(precision_, device_);
  return model_->forward(images);
}

torch::Tensor SingleDevice::loss_of(const torch::Tensor& logits, const torch::Tensor& labels) {
  return task_loss(logits, labels);
}

torch::Tensor SingleDevice::correct_of(const torch::Tensor& logits, const torch::Tensor& labels) {
  return correct_count(logits, labels);
}

torch::Tensor SingleDevice::whole_squared_grad_norm() {
  return squared_grad_norm(model_->parameters());
}

void SingleDevice::divide_gradients(const std::vector<torch::Tensor>& params, double scale) {
  torch::NoGradGuard no_grad;
  for (const auto& p : params)
    if (p.grad().defined()) p.grad().div_(scale);
}

torch::Tensor SingleDevice::scaled(const torch::Tensor& loss) const {
  return precision_.loss_scaling ? loss * scaler_.scale() : loss;
}

torch::Tensor SingleDevice::clip_factor(const torch::Tensor& squared_norm) const {
  return clip_coefficient(squared_norm, grad_clip_);
}

void SingleDevice::gate_update(double grad_norm_sq, StepStats& stats, double loss) {
  stats.loss_scale = loss_scale();
  skip_update_ = false;
  if (!precision_.loss_scaling) return;
  const bool finite = std::isfinite(grad_norm_sq) && std::isfinite(loss);
  // An overflow at the scale's floor is reported unskipped, so that the trainer stops the run.
  const bool at_floor = scaler_.at_floor();
  skip_update_ = !scaler_.update(finite);
  stats.skipped = skip_update_ && !at_floor;
}

StepStats SingleDevice::train_step(const Batch& batch) {
  const Stopwatch watch;
  model_->train();
  // Gradients as none (LibTorch 2.x's zero_grad does so; 1.13's would zero them in place).
  for (auto& p : model_->parameters()) p.mutable_grad().reset();
  probe_.step_begin();
  trace_begin();
  auto logits = forward_logits(batch.images);
  auto loss = loss_of(logits.to(model_dtype_), batch.labels);
  probe_.forward_end();
  trace_phase("forward");
  scaled(loss).backward();
  probe_.backward_end();
  trace_phase("backward");
  reduce_gradients();
  auto grad_norm_sq = whole_squared_grad_norm();
  StepStats stats;
  if (precision_.loss_scaling) {
    // fp16: gradients divided by the scale before the update; a step that overflowed is skipped.
    // This costs the step a second host sync, for the norm, before the update.
    const double scale = scaler_.scale();
    grad_norm_sq = grad_norm_sq / (scale * scale);
    const auto both = torch::stack({grad_norm_sq, loss.detach().to(torch::kDouble)}).cpu();
    gate_update(both[0].item<double>(), stats, both[1].item<double>());
    if (!skip_update_) divide_gradients(model_->parameters(), scale);
    trace_boundary();  // the norm's host sync before the update: no phase of its own
  }
  if (clips()) scale_gradients(model_->parameters(), clip_factor(grad_norm_sq));
  step_optimizer();
  record_optimizer_state();
  trace_phase("optimizer");
  // One host sync per step: the loss, the count of right answers and the gradient's norm leave
  // the device together.
  auto correct = correct_of(logits.detach(), batch.labels);
  auto all =
      torch::stack({loss.detach().to(torch::kDouble), correct.to(torch::kDouble), grad_norm_sq})
          .cpu();
  trace_end();
  const double* v = all.data_ptr<double>();
  stats.loss = v[0];
  stats.correct = static_cast<int64_t>(v[1]);
  stats.grad_norm = std::sqrt(v[2]);
  stats.images = batch.size();
  stats.compute_s = watch.seconds();
  stats.stop = interrupt_requested();
  // An fp16 step that was skipped created no optimizer state: the next one is probed instead.
  if (!skip_update_) probe_.step_end();
  return stats;
}

EvalStats SingleDevice::evaluate(Loader& test) {
  torch::NoGradGuard no_grad;
  model_->eval();
  // Sums stay on the device; one sync at the end instead of one per batch.
  auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device_));
  auto correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device_));
  EvalStats stats;
  for (int64_t i = 0; i < test.batches(); ++i) {
    const Batch b = test.batch(i);
    auto logits = forward_logits(b.images).to(model_dtype_);
    // The mean over the batch's targets, weighted by its samples (a text window's tokens count
    // as one sample: every window has as many).
    loss_sum += loss_of(logits, b.labels).to(torch::kDouble) * static_cast<double>(b.size());
    correct += correct_of(logits, b.labels);
    stats.total += b.size();
  }
  stats.loss_sum = loss_sum.item<double>();
  stats.correct = correct.item<int64_t>();
  return stats;
}

void SingleDevice::set_lr(double lr) {
  set_learning_rate(*optimizer_, lr);
}

std::vector<torch::Tensor> SingleDevice::resident_state() const {
  auto tensors = model_->parameters();
  for (const auto& b : model_->buffers()) tensors.push_back(b);
  return tensors;
}

MemoryStats SingleDevice::memory() const {
  return memory_of(model_->parameters());
}

MemoryStats SingleDevice::memory_of(const std::vector<torch::Tensor>& params) const {
  MemoryStats m;
  for (const auto& p : params) {
    m.param_bytes += p.numel() * p.element_size();
    if (p.grad().defined()) m.grad_bytes += p.grad().numel() * p.grad().element_size();
  }
  m.optimizer_state_bytes = optimizer_state_bytes(*optimizer_);
  return m;
}

void SingleDevice::save(torch::serialize::OutputArchive& archive) {
  save_with(archive, *optimizer_);
}

void SingleDevice::load(torch::serialize::InputArchive& archive) {
  load_with(archive, *optimizer_);
}

void SingleDevice::save_with(torch::serialize::OutputArchive& archive,
                             torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive model_archive, optimizer_archive;
  model_->save(model_archive);
  optimizer.save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  if (precision_.loss_scaling)  // the scale the run had reached, so a resumed run goes on from it
    archive.write("loss_scaler",
                  torch::tensor({scaler_.scale(), static_cast<double>(scaler_.good_streak()),
                                 static_cast<double>(scaler_.skipped())},
                                torch::kDouble));
}

void SingleDevice::load_with(torch::serialize::InputArchive& archive,
                             torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive model_archive, optimizer_archive;
  archive.read("model", model_archive);
  archive.read("optimizer", optimizer_archive);
  model_->load(model_archive);
  // The archive's layout replaced the parameters' (a pipeline's other stages were saved NCHW).
  if (channels_last_) model_->set_channels_last();
  optimizer.load(optimizer_archive);
  torch::Tensor s;
  if (precision_.loss_scaling && archive.try_read("loss_scaler", s)) {
    scaler_.restore(s[0].item<double>(), s[1].item<int64_t>(), s[2].item<int64_t>());
  }
  place_model();
}

std::vector<StatePiece> SingleDevice::state_pieces(const OptimizerStateSpec* load) {
  std::vector<StatePiece> out;
  for (const auto& p : model_->named_parameters())
    add_kept_pieces(out, p.value(), {whole_part(p.key(), p.value())}, replica_ == 0,
                    optimizer_.get(), load);
  add_buffer_pieces(out, replica_ == 0);
  return out;
}

void SingleDevice::add_buffer_pieces(std::vector<StatePiece>& out, bool writes,
                                     const std::function<bool(const torch::Tensor&)>& keep) const {
  for (const auto& b : model_->named_buffers())
    if (!keep || keep(b.value()))
      add_kept_pieces(out, b.value(), {whole_part(b.key(), b.value())}, writes, nullptr, nullptr);
}

nlohmann::json SingleDevice::checkpoint_extra() const {
  if (!precision_.loss_scaling) return nlohmann::json::object();
  return {{"loss_scaler", {scaler_.scale(), scaler_.good_streak(), scaler_.skipped()}}};
}

void SingleDevice::restore_checkpoint_extra(const nlohmann::json& extra) {
  if (!precision_.loss_scaling || !extra.contains("loss_scaler")) return;
  const auto& s = extra["loss_scaler"];
  scaler_.restore(s[0].get<double>(), s[1].get<int64_t>(), s[2].get<int64_t>());
}

}  // namespace parallax
