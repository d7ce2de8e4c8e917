// StageExecutor: tags are 2m for micro-batch m's activation, 2m + 1 for its gradient.
#include "parallel/stage_executor.h"

#include <torch/torch.h>

#include "metrics/heap.h"
#include "metrics/timeline.h"
#include "models/blocks.h"

namespace parallax {
namespace {

std::vector<int64_t> with_rows(int64_t rows, const std::vector<int64_t>& sample_shape) {
  std::vector<int64_t> shape{rows};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  return shape;
}

}  // namespace

StageExecutor::StageExecutor(ModelBlocks& model, StageSpec spec, compat::Group forward,
                             compat::Group backward, torch::Device device, Timeline* timeline)
    : model_(model),
      spec_(std::move(spec)),
      forward_(std::move(forward)),
      backward_(std::move(backward)),
      device_(device),
      timeline_(timeline) {}

torch::Tensor& StageExecutor::buffer(std::vector<torch::Tensor>& pool, int m, int64_t rows,
                                     const std::vector<int64_t>& sample_shape) {
  if (pool.size() <= static_cast<size_t>(m)) pool.resize(m + 1);
  auto& t = pool[m];
  const auto shape = with_rows(rows, sample_shape);
  if (!t.defined() || t.sizes().vec() != shape)
    t = torch::empty(shape, torch::TensorOptions().device(device_));
  return t;
}

void StageExecutor::post_recv(const Action& a, const std::vector<int64_t>& sizes) {
  const int m = a.micro;
  if (a.kind == Action::kForward && !first() && !act_recv_[m]) {
    std::vector<torch::Tensor> t{buffer(act_in_, m, sizes[m], spec_.in_sample_shape)};
    act_recv_[m] = forward_->recv(t, spec_.stage - 1, 2 * m);
  }
  if (a.kind == Action::kBackward && !last() && !grad_recv_[m]) {
    std::vector<torch::Tensor> t{buffer(grad_in_, m, sizes[m], spec_.out_sample_shape)};
    grad_recv_[m] = backward_->recv(t, spec_.stage + 1, 2 * m + 1);
  }
}

double StageExecutor::wait(compat::Work& work) {
  const double start = timeline_->now_us();
  work->wait();
  work.reset();
  const double end = timeline_->now_us();
  return (end - start) * 1e-6;
}

StageTimes StageExecutor::run(const std::vector<Action>& actions,
                              const std::vector<int64_t>& sizes, const Batch& batch, bool train,
                              const std::function<void(int)>& before_backward) {
  const int micro = static_cast<int>(sizes.size());
  std::vector<int64_t> offsets(micro, 0);
  for (int m = 1; m < micro; ++m) offsets[m] = offsets[m - 1] + sizes[m - 1];
  const int64_t total = offsets.back() + sizes.back();
  act_recv_.assign(micro, {});
  grad_recv_.assign(micro, {});
  inputs_.assign(micro, {});
  outputs_.assign(micro, {});
  StageTimes t;
  const auto dopts = torch::TensorOptions().dtype(torch::kDouble).device(device_);
  t.loss_sum = torch::zeros({}, dopts);
  t.correct = torch::zeros({}, dopts);
  torch::AutoGradMode grad_mode(train);
  const int64_t heap_base = allocated_bytes(device_);
  int held = 0;
  const double start = timeline_->now_us();

  if (!actions.empty()) post_recv(actions.front(), sizes);
  for (size_t i = 0; i < actions.size(); ++i) {
    const Action& a = actions[i];
    const int m = a.micro;
    // The next action's receive goes out now, so it travels while this action computes.
    if (i + 1 < actions.size()) post_recv(actions[i + 1], sizes);
    const std::string label = (a.kind == Action::kForward ? "F" : "B") + std::to_string(m);
    if (a.kind == Action::kForward) {
      torch::Tensor x;
      if (first()) {
        x = batch.images.narrow(0, offsets[m], sizes[m]);
      } else {
        const double w0 = timeline_->now_us();
        t.recv_wait_s += wait(act_recv_[m]);
        timeline_->span("wait", "recv act " + std::to_string(m), w0, timeline_->now_us());
        x = act_in_[m].detach();
        if (train) x.requires_grad_(true);
      }
      const double c0 = timeline_->now_us();
      auto y = model_.forward_range(x, spec_.begin, spec_.end);
      if (last()) {
        auto labels = batch.labels.narrow(0, offsets[m], sizes[m]);
        auto loss = torch::nn::functional::cross_entropy(y, labels);
        t.loss_sum += loss.detach().to(torch::kDouble) * static_cast<double>(sizes[m]);
        t.correct += y.detach().argmax(1).eq(labels).sum().to(torch::kDouble);
        // Weighted by the micro-batch's share: the gradients add up to the batch mean's.
        if (train) outputs_[m] = loss * (static_cast<double>(sizes[m]) / total);
      } else {
        y = y.contiguous();
        std::vector<torch::Tensor> out{y.detach()};
        sends_.push_back(forward_->send(out, spec_.stage + 1, 2 * m));
        sent_.push_back(out[0]);
        if (train) outputs_[m] = y;
      }
      if (train) inputs_[m] = x;
      const double c1 = timeline_->now_us();
      t.busy_s += (c1 - c0) * 1e-6;
      timeline_->span("compute", label, c0, c1);
      ++held;
      t.held_micro_batches = std::max(t.held_micro_batches, held);
      if (heap_base >= 0)
        t.peak_activation_bytes =
            std::max(t.peak_activation_bytes, allocated_bytes(device_) - heap_base);
    } else {
      if (before_backward) before_backward(m);
      if (!last()) {
        const double w0 = timeline_->now_us();
        t.recv_wait_s += wait(grad_recv_[m]);
        timeline_->span("wait", "recv grad " + std::to_string(m), w0, timeline_->now_us());
      }
      const double c0 = timeline_->now_us();
      if (last()) outputs_[m].backward();
      else outputs_[m].backward(grad_in_[m]);
      outputs_[m].reset();
      if (!first()) {
        std::vector<torch::Tensor> g{inputs_[m].grad().contiguous()};
        sends_.push_back(backward_->send(g, spec_.stage - 1, 2 * m + 1));
        sent_.push_back(g[0]);
      }
      inputs_[m].reset();  // the activations of micro-batch m are freed here
      const double c1 = timeline_->now_us();
      t.busy_s += (c1 - c0) * 1e-6;
      timeline_->span("compute", label, c0, c1);
      --held;
    }
  }
  const double s0 = timeline_->now_us();
  for (auto& w : sends_) w->wait();
  sends_.clear();
  sent_.clear();
  const double end = timeline_->now_us();
  if (end - s0 > 1) timeline_->span("wait", "sends", s0, end);
  t.send_wait_s = (end - s0) * 1e-6;
  t.wall_s = (end - start) * 1e-6;
  return t;
}

}  // namespace parallax
