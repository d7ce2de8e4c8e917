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
      dtype_(model.scalar_type()),
      model_dtype_(dtype_),
      timeline_(timeline),
      clock_(device) {
  const auto& any = forward_ ? forward_ : backward_;
  stage_through_host_ = device_.is_cuda() && any && !runs_on_device_streams(any);
}

void StageExecutor::set_precision(const Precision& p) {
  precision_ = p;
  dtype_ = p.autocast ? p.compute : model_dtype_;
  act_in_.clear();  // receive buffers of the old dtype
  grad_in_.clear();
}

torch::Tensor& StageExecutor::buffer(std::vector<torch::Tensor>& pool, int m, int64_t rows,
                                     const std::vector<int64_t>& sample_shape) {
  if (pool.size() <= static_cast<size_t>(m)) pool.resize(m + 1);
  auto& t = pool[m];
  const auto shape = with_rows(rows, sample_shape);
  if (stage_through_host_) {
    // A fresh pinned block per receive (from the caching host allocator, which keeps a block
    // until the copies recorded on it are done): the last one may still be copied to the GPU.
    t = torch::empty(shape, torch::TensorOptions().dtype(dtype_).pinned_memory(true));
  } else if (!t.defined() || t.sizes().vec() != shape) {
    t = torch::empty(shape, torch::TensorOptions().dtype(dtype_).device(device_));
  }
  return t;
}

compat::Work StageExecutor::send(const compat::Group& group, const torch::Tensor& t, int peer,
                                 int tag) {
  // Through the host for Gloo: a blocking copy, so the host buffer is complete when Gloo reads it.
  std::vector<torch::Tensor> out{stage_through_host_ ? t.to(torch::kCPU) : t};
  sent_.push_back(out[0]);  // kept alive until the send completes
  return group->send(out, peer, tag);
}

torch::Tensor StageExecutor::received(compat::Work& work, const torch::Tensor& buffer) {
  // NCCL: the compute stream waits for the receive, the host goes on. Gloo: the host waits.
  work->wait();
  work.reset();
  return stage_through_host_ ? buffer.to(device_, /*non_blocking=*/true) : buffer;
}

void StageExecutor::connect_neighbours() {
  connected_ = true;
  if (spec_.stages == 1) return;
  auto token = torch::zeros({1}, torch::TensorOptions().dtype(dtype_).device(device_));
  // Forward group along the pipeline (0 -> 1 -> ... ), then the backward group back down: each
  // pair meets when both ends arrive, and no rank waits on a pair whose other end waits on it.
  auto exchange = [&](const compat::Group& g, int from, int to, int tag) {
    if (spec_.stage == from) {
      auto w = send(g, token, to, tag);
      w->wait();
    } else if (spec_.stage == to) {
      std::vector<torch::Tensor> in{buffer(act_in_, 0, 1, {})};
      auto w = g->recv(in, from, tag);
      received(w, in[0]);
    }
  };
  for (int s = 0; s + 1 < spec_.stages; ++s) exchange(forward_, s, s + 1, 0);
  for (int s = spec_.stages - 1; s > 0; --s) exchange(backward_, s, s - 1, 1);
  sent_.clear();
  act_in_.clear();
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

void StageExecutor::span(const char* lane, std::string name, int from, int to) {
  spans_.push_back({lane, std::move(name), from, to});
}

StageTimes StageExecutor::run(const std::vector<Action>& actions,
                              const std::vector<int64_t>& sizes, const Batch& batch, bool train,
                              const std::function<void(int)>& before_backward) {
  if (!connected_) connect_neighbours();
  const int micro = static_cast<int>(sizes.size());
  std::vector<int64_t> offsets(micro, 0);
  for (int m = 1; m < micro; ++m) offsets[m] = offsets[m - 1] + sizes[m - 1];
  const int64_t total = offsets.back() + sizes.back();
  act_recv_.assign(micro, {});
  grad_recv_.assign(micro, {});
  inputs_.assign(micro, {});
  outputs_.assign(micro, {});
  spans_.clear();
  recv_waits_.clear();
  busy_.clear();
  StageTimes t;
  const auto dopts = torch::TensorOptions().dtype(torch::kDouble).device(device_);
  t.loss_sum = torch::zeros({}, dopts);
  t.correct = torch::zeros({}, dopts);
  torch::AutoGradMode grad_mode(train);
  const int64_t heap_base = allocated_bytes(device_);
  const int64_t not_activations_base = not_activations_ ? not_activations_() : 0;
  int held = 0;
  clock_base_us_ = timeline_->now_us();
  clock_.begin();

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
        const int w0 = clock_.mark();
        x = received(act_recv_[m], act_in_[m]).detach();
        recv_waits_.insert(recv_waits_.end(), {w0, clock_.mark()});
        span("wait", "recv act " + std::to_string(m), recv_waits_.end()[-2], recv_waits_.back());
        if (train) x.requires_grad_(true);
      }
      const int c0 = clock_.mark();
      torch::Tensor y;
      {
        const AutocastGuard autocast(precision_, device_);
        y = model_.forward_range(x, spec_.begin, spec_.end);
      }
      if (last()) {
        auto labels = batch.labels.narrow(0, offsets[m], sizes[m]);
        auto loss = torch::nn::functional::cross_entropy(y.to(model_dtype_), labels);
        t.loss_sum += loss.detach().to(torch::kDouble) * static_cast<double>(sizes[m]);
        t.correct += y.detach().argmax(1).eq(labels).sum().to(torch::kDouble);
        // Weighted by the micro-batch's share: the gradients add up to the batch mean's.
        if (train) outputs_[m] = loss * (static_cast<double>(sizes[m]) / total * loss_scale_);
      } else {
        y = y.to(dtype_).contiguous();  // what autocast's last op left, in the wire's dtype
        sends_.push_back(send(forward_, y.detach(), spec_.stage + 1, 2 * m));
        if (train) outputs_[m] = y;
      }
      if (train) inputs_[m] = x;
      busy_.insert(busy_.end(), {c0, clock_.mark()});
      span("compute", label, c0, busy_.back());
      ++held;
      t.held_micro_batches = std::max(t.held_micro_batches, held);
      if (heap_base >= 0)
        t.peak_activation_bytes =
            std::max(t.peak_activation_bytes,
                     allocated_bytes(device_) - heap_base -
                         (not_activations_ ? not_activations_() - not_activations_base : 0));
    } else {
      if (before_backward) before_backward(m);
      torch::Tensor grad;
      if (!last()) {
        const int w0 = clock_.mark();
        grad = received(grad_recv_[m], grad_in_[m]);
        recv_waits_.insert(recv_waits_.end(), {w0, clock_.mark()});
        span("wait", "recv grad " + std::to_string(m), recv_waits_.end()[-2], recv_waits_.back());
      }
      const int c0 = clock_.mark();
      if (last()) outputs_[m].backward();
      else outputs_[m].backward(grad);
      outputs_[m].reset();
      if (!first())
        sends_.push_back(
            send(backward_, inputs_[m].grad().contiguous(), spec_.stage - 1, 2 * m + 1));
      inputs_[m].reset();  // the activations of micro-batch m are freed here
      busy_.insert(busy_.end(), {c0, clock_.mark()});
      span("compute", label, c0, busy_.back());
      --held;
    }
  }
  const int s0 = clock_.mark();
  for (auto& w : sends_) w->wait();
  sends_.clear();
  sent_.clear();
  pass_end_ = clock_.mark();
  sends_wait_.assign({s0, pass_end_});
  return t;
}

void StageExecutor::settle(StageTimes& t) {
  clock_.resolve();
  auto sum = [&](const std::vector<int>& pairs) {
    double s = 0;
    for (size_t i = 0; i + 1 < pairs.size(); i += 2)
      s += std::max(0.0, clock_.at(pairs[i + 1]) - clock_.at(pairs[i]));
    return s;
  };
  t.busy_s = sum(busy_);
  t.recv_wait_s = sum(recv_waits_);
  t.send_wait_s = sum(sends_wait_);
  t.wall_s = pass_end_ >= 0 ? clock_.at(pass_end_) : 0;
  if (t.send_wait_s > 1e-6) span("wait", "sends", sends_wait_[0], sends_wait_[1]);
  for (const auto& s : spans_)
    timeline_->span(s.lane, s.name, clock_base_us_ + clock_.at(s.from) * 1e6,
                    clock_base_us_ + clock_.at(s.to) * 1e6);
  spans_.clear();
}

}  // namespace parallax
