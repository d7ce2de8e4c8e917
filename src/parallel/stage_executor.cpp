// StageExecutor: tags are 2(gM + m) for micro-batch m's activation into piece g (of M
// micro-batches), 2(gM + m) + 1 for its gradient into piece g.
#include "parallel/stage_executor.h"

#include <torch/torch.h>

#include <algorithm>
#include <tuple>

#include "distributed/collectives.h"
#include "metrics/heap.h"
#include "metrics/step_trace.h"
#include "models/blocks.h"
#include "models/task_loss.h"

namespace parallax {
namespace {

std::vector<int64_t> with_rows(int64_t rows, const std::vector<int64_t>& sample_shape) {
  std::vector<int64_t> shape{rows};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  return shape;
}

}  // namespace

StageExecutor::StageExecutor(ModelBlocks& model, StageSpec spec, StageGroups groups,
                             torch::Device device, StepTrace* trace)
    : model_(model),
      spec_(std::move(spec)),
      groups_(std::move(groups)),
      device_(device),
      model_dtype_(model.scalar_type()),
      trace_(trace),
      clock_(device) {
  const auto& any = groups_.activations ? groups_.activations : groups_.gradients;
  stage_through_host_ = any && host_side_device(any, device_) != device_;  // Gloo on a GPU
  // Gloo: the host posts every receive of the pass at its start, so data moves the moment it is
  // sent (a sender's data waits for the receive to be posted). NCCL's receives queue on the
  // device stream ahead of the compute after them, so there only the next action's is posted.
  post_all_receives_ = !(any && runs_on_device_streams(any));
}

void StageExecutor::set_precision(const Precision& p) {
  precision_ = p;
  act_in_.clear();  // receive buffers of the old dtype
  grad_in_.clear();
}

const compat::Group& StageExecutor::group_for(bool activation, int from, int to) const {
  if (activation) return to > from ? groups_.activations : groups_.activations_reverse;
  return to < from ? groups_.gradients : groups_.gradients_reverse;
}

torch::ScalarType StageExecutor::wire_dtype(bool reduced) const {
  return precision_.autocast && reduced ? precision_.compute : model_dtype_;
}

torch::Tensor& StageExecutor::buffer(std::vector<torch::Tensor>& pool, int m, int64_t rows,
                                     const std::vector<int64_t>& sample_shape,
                                     torch::ScalarType dtype) {
  if (pool.size() <= static_cast<size_t>(m)) pool.resize(m + 1);
  auto& t = pool[m];
  const auto shape = with_rows(rows, sample_shape);
  if (stage_through_host_) {
    // A fresh pinned block per receive (from the caching host allocator, which keeps a block
    // until the copies recorded on it are done): the last one may still be copied to the GPU.
    t = torch::empty(shape, torch::TensorOptions().dtype(dtype).pinned_memory(true));
  } else if (!t.defined() || t.sizes().vec() != shape || t.scalar_type() != dtype) {
    t = torch::empty(shape, torch::TensorOptions().dtype(dtype).device(device_));
  }
  return t;
}

compat::Work StageExecutor::send(const compat::Group& group, const torch::Tensor& t, int peer,
                                 int tag) {
  // Through the host for Gloo: a blocking copy, so the host buffer is complete when Gloo reads it.
  std::vector<torch::Tensor> out{stage_through_host_ ? t.to(torch::kCPU) : t};
  sent_.push_back(out[0]);  // kept alive until the send completes
  return parallax::send(group, out, peer, tag, "pipeline activation or gradient");
}

torch::Tensor StageExecutor::received(compat::Work& work, const torch::Tensor& buffer) {
  // NCCL: the compute stream waits for the receive, the host goes on. Gloo: the host waits.
  work->wait();
  work.reset();
  return stage_through_host_ ? buffer.to(device_, /*non_blocking=*/true) : buffer;
}

void StageExecutor::connect_neighbours() {
  connected_ = true;
  const auto& l = spec_.layout;
  if (l.stages == 1) return;
  auto token = torch::zeros({1}, torch::TensorOptions().dtype(model_dtype_).device(device_));
  // Every pair of ranks a piece hands to, the activations' along the pieces, then the
  // gradients' back: each pair meets when both ends arrive, and every rank walks the same list,
  // so no rank waits on a pair whose other end waits on it.
  auto exchange = [&](const compat::Group& g, int from, int to, int tag) {
    if (spec_.stage == from) {
      auto w = send(g, token, to, tag);
      w->wait();
    } else if (spec_.stage == to) {
      std::vector<torch::Tensor> in{buffer(act_in_, 0, 1, {}, model_dtype_)};
      auto w = parallax::recv(g, in, from, tag, "pipeline connection");
      received(w, in[0]);
    }
  };
  std::vector<std::tuple<bool, int, int>> done;
  auto once = [&](bool activation, int from, int to) {
    if (from == to) return;
    const auto key = std::make_tuple(activation, from, to);
    if (std::find(done.begin(), done.end(), key) != done.end()) return;
    done.push_back(key);
    exchange(group_for(activation, from, to), from, to, activation ? 0 : 1);
  };
  for (int g = 0; g + 1 < l.pieces(); ++g) once(true, l.owner(g), l.owner(g + 1));
  for (int g = l.pieces() - 1; g > 0; --g) once(false, l.owner(g), l.owner(g - 1));
  sent_.clear();
  act_in_.clear();
}

void StageExecutor::post_recv(const Action& a, const std::vector<int64_t>& sizes) {
  const int m = a.micro, k = slot(a);
  const auto& l = spec_.layout;
  const ChunkSpec& c = spec_.chunks[a.chunk];
  const int g = c.piece, M = micro_;
  if (a.kind == Action::kForward && g > 0 && l.owner(g - 1) != spec_.stage && !act_recv_[k]) {
    std::vector<torch::Tensor> t{
        buffer(act_in_, k, sizes[m], c.in_sample_shape, wire_dtype(c.in_reduced))};
    act_recv_[k] = parallax::recv(group_for(true, l.owner(g - 1), spec_.stage), t, l.owner(g - 1),
                                  2 * (g * M + m), "pipeline activation");
  }
  const bool backward = a.kind == Action::kBackward || a.kind == Action::kInput;
  if (backward && g + 1 < l.pieces() && l.owner(g + 1) != spec_.stage && !grad_recv_[k]) {
    std::vector<torch::Tensor> t{
        buffer(grad_in_, k, sizes[m], c.out_sample_shape, wire_dtype(c.out_reduced))};
    grad_recv_[k] = parallax::recv(group_for(false, l.owner(g + 1), spec_.stage), t,
                                   l.owner(g + 1), 2 * (g * M + m) + 1, "pipeline gradient");
  }
}

torch::Tensor StageExecutor::forward_input(const Action& a, const Batch& batch,
                                           const std::vector<int64_t>& offsets,
                                           const std::vector<int64_t>& sizes) {
  const int m = a.micro, k = slot(a), g = spec_.chunks[a.chunk].piece;
  if (g == 0) return batch.images.narrow(0, offsets[m], sizes[m]);
  if (spec_.layout.owner(g - 1) == spec_.stage) {
    // Handed over by this rank's chunk before (ZB-V's turn at the last rank).
    auto x = std::move(handed_act_[k]);
    handed_act_[k] = torch::Tensor();
    return x;
  }
  return timed_receive(act_recv_[k], act_in_[k], "recv act ", a).detach();
}

torch::Tensor StageExecutor::timed_receive(compat::Work& work, const torch::Tensor& buffer,
                                           const char* what, const Action& a) {
  const int w0 = clock_.mark();
  auto t = received(work, buffer);
  recv_waits_.insert(recv_waits_.end(), {w0, clock_.mark()});
  // "recv act 3.1": micro-batch 3, chunk 1.
  if (trace_)
    span("wait", what + to_string(Action{Action::kForward, a.micro, a.chunk}).substr(1), w0,
         recv_waits_.back());
  return t;
}

torch::Tensor StageExecutor::output_grad(const Action& a) {
  const int k = slot(a), g = spec_.chunks[a.chunk].piece;
  if (g + 1 == spec_.layout.pieces()) return {};
  if (spec_.layout.owner(g + 1) == spec_.stage) {
    auto grad = std::move(handed_grad_[k]);
    handed_grad_[k] = torch::Tensor();
    return grad;
  }
  return timed_receive(grad_recv_[k], grad_in_[k], "recv grad ", a);
}

void StageExecutor::pass_input_grad(const Action& a, const torch::Tensor& grad) {
  const int g = spec_.chunks[a.chunk].piece;
  if (g == 0) return;
  const auto& l = spec_.layout;
  if (l.owner(g - 1) == spec_.stage) {
    handed_grad_[l.chunk_of(g - 1) * micro_ + a.micro] = grad;
    return;
  }
  const int to = l.owner(g - 1);
  sends_.push_back(send(group_for(false, spec_.stage, to), grad.contiguous(), to,
                        2 * ((g - 1) * micro_ + a.micro) + 1));
}

void StageExecutor::span(const char* lane, std::string name, int from, int to) {
  spans_.push_back({lane, std::move(name), from, to});
}

StageTimes StageExecutor::run(const std::vector<Action>& actions, const std::vector<int64_t>& sizes,
                              const Batch& batch, bool train) {
  if (!connected_) connect_neighbours();
  begin_pass(actions, sizes);
  std::vector<int64_t> offsets(micro_, 0);
  for (int m = 1; m < micro_; ++m) offsets[m] = offsets[m - 1] + sizes[m - 1];
  const int64_t total = offsets.back() + sizes.back();
  StageTimes t;
  const auto dopts = torch::TensorOptions().dtype(torch::kDouble).device(device_);
  t.loss_sum = torch::zeros({}, dopts);
  t.correct = torch::zeros({}, dopts);
  torch::AutoGradMode grad_mode(train);
  const int64_t heap_base = allocated_bytes(device_);
  const int64_t not_activations_base = not_activations_ ? not_activations_() : 0;
  int held = 0;
  clock_.begin();

  if (post_all_receives_) {
    for (const Action& a : actions) post_recv(a, sizes);
  } else if (!actions.empty()) {
    post_recv(actions.front(), sizes);
  }
  for (size_t i = 0; i < actions.size(); ++i) {
    const Action& a = actions[i];
    // The next action's receive goes out now, so it travels while this action computes.
    if (!post_all_receives_ && i + 1 < actions.size()) post_recv(actions[i + 1], sizes);
    if (a.kind == Action::kForward) {
      run_forward(a, batch, offsets, sizes, total, train, t);
      ++held;
      t.held_micro_batches = std::max(t.held_micro_batches, held);
      if (heap_base >= 0)
        t.peak_activation_bytes =
            std::max(t.peak_activation_bytes,
                     allocated_bytes(device_) - heap_base -
                         (not_activations_ ? not_activations_() - not_activations_base : 0));
    } else if (a.kind == Action::kWeight) {
      run_weight(a);
      --held;  // the weight gradient freed this chunk's micro-batch's activations
    } else {
      run_backward(a);
      if (a.kind == Action::kBackward) --held;  // a full backward freed them too
    }
  }
  wait_for_sends();
  return t;
}

void StageExecutor::begin_pass(const std::vector<Action>& actions,
                               const std::vector<int64_t>& sizes) {
  micro_ = static_cast<int>(sizes.size());
  split_ = std::any_of(actions.begin(), actions.end(),
                       [](const Action& a) { return a.kind == Action::kInput; });
  const int slots = micro_ * static_cast<int>(spec_.chunks.size());
  for (auto* v : {&act_recv_, &grad_recv_}) v->assign(slots, {});
  for (auto* v : {&inputs_, &outputs_, &handed_act_, &handed_grad_}) v->assign(slots, {});
  pending_w_.assign(slots, {});
  spans_.clear();
  recv_waits_.clear();
  busy_.clear();
  busy_action_.clear();
}

void StageExecutor::run_forward(const Action& a, const Batch& batch,
                                const std::vector<int64_t>& offsets,
                                const std::vector<int64_t>& sizes, int64_t total, bool train,
                                StageTimes& t) {
  const int m = a.micro, k = slot(a);
  const ChunkSpec& chunk = spec_.chunks[a.chunk];
  const int g = chunk.piece;
  torch::Tensor x = forward_input(a, batch, offsets, sizes);
  // The first piece's images too under a split backward: the input delimits the graph
  // (split_backward.h); their gradient is never computed.
  // Token ids cannot be a graph's leaf: a language model's first piece runs I as a whole backward.
  if (train && (g > 0 || split_) && x.is_floating_point()) x = x.detach().requires_grad_(true);
  const int c0 = clock_.mark();
  torch::Tensor y;
  {
    const AutocastGuard autocast(precision_, device_);
    y = model_.forward_range(x, chunk.begin, chunk.end);
  }
  if (g == spec_.layout.pieces() - 1) {
    add_loss(a, y, batch.labels.narrow(0, offsets[m], sizes[m]), sizes[m], total, train, t);
  } else {
    pass_activation(a, y, train);
  }
  if (train) inputs_[k] = x;
  mark_busy(a, c0);
}

void StageExecutor::add_loss(const Action& a, const torch::Tensor& y, const torch::Tensor& labels,
                             int64_t rows, int64_t total, bool train, StageTimes& t) {
  auto loss = task_loss(y.to(model_dtype_), labels);
  t.loss_sum += loss.detach().to(torch::kDouble) * static_cast<double>(rows);
  t.correct += correct_count(y.detach(), labels).to(torch::kDouble);
  // Weighted by the micro-batch's share: the gradients add up to the batch mean's.
  if (train) outputs_[slot(a)] = loss * (static_cast<double>(rows) / total * loss_scale_);
}

void StageExecutor::pass_activation(const Action& a, torch::Tensor& y, bool train) {
  const int m = a.micro, g = spec_.chunks[a.chunk].piece;
  // What autocast's last op left, in the wire's dtype.
  y = y.to(wire_dtype(spec_.chunks[a.chunk].out_reduced)).contiguous();
  const auto& l = spec_.layout;
  if (l.owner(g + 1) == spec_.stage) {
    handed_act_[l.chunk_of(g + 1) * micro_ + m] = y.detach();
  } else {
    const int to = l.owner(g + 1);
    sends_.push_back(
        send(group_for(true, spec_.stage, to), y.detach(), to, 2 * ((g + 1) * micro_ + m)));
  }
  if (train) outputs_[slot(a)] = y;
}

void StageExecutor::run_weight(const Action& a) {
  const int k = slot(a);
  const int c0 = clock_.mark();
  if (pending_w_[k]) backward_weight(*pending_w_[k]);  // this micro-batch's activations go here
  pending_w_[k].reset();
  mark_busy(a, c0);
}

void StageExecutor::run_backward(const Action& a) {
  const int k = slot(a), g = spec_.chunks[a.chunk].piece;
  torch::Tensor grad = output_grad(a);
  const int c0 = clock_.mark();
  torch::Tensor input_grad;
  // The first piece of a language model (token ids in) has no input leaf to split at: its I is
  // a whole backward, and its W has nothing left to do.
  if (a.kind == Action::kBackward || !inputs_[k].requires_grad()) {
    if (grad.defined())
      outputs_[k].backward(grad);
    else
      outputs_[k].backward();
    if (g > 0) input_grad = inputs_[k].grad();
  } else {
    auto r = backward_input(outputs_[k], grad, inputs_[k], /*input_grad_needed=*/g > 0);
    input_grad = std::move(r.input_grad);
    pending_w_[k] = std::move(r.weights);
  }
  outputs_[k].reset();
  inputs_[k].reset();
  if (g > 0) pass_input_grad(a, input_grad);
  mark_busy(a, c0);
}

void StageExecutor::wait_for_sends() {
  const int s0 = clock_.mark();
  for (auto& w : sends_) w->wait();
  sends_.clear();
  sent_.clear();
  pass_end_ = clock_.mark();
  sends_wait_.assign({s0, pass_end_});
}

void StageExecutor::mark_busy(const Action& a, int from) {
  busy_.insert(busy_.end(), {from, clock_.mark()});
  busy_action_.push_back(a);
  if (trace_) span("compute", to_string(a), from, busy_.back());
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
  t.action_s.assign(spec_.chunks.size(), {});
  t.action_n.assign(spec_.chunks.size(), {});
  for (size_t i = 0; i < busy_action_.size(); ++i) {
    const Action& a = busy_action_[i];
    t.action_s[a.chunk][a.kind] +=
        std::max(0.0, clock_.at(busy_[2 * i + 1]) - clock_.at(busy_[2 * i]));
    ++t.action_n[a.chunk][a.kind];
  }
  t.recv_wait_s = sum(recv_waits_);
  t.send_wait_s = sum(sends_wait_);
  t.wall_s = pass_end_ >= 0 ? clock_.at(pass_end_) : 0;
  if (trace_) {  // null: --no-trace
    if (t.send_wait_s > 1e-6) span("wait", "sends", sends_wait_[0], sends_wait_[1]);
    const double base = trace_->base_us(clock_);
    for (const auto& s : spans_)
      trace_->timeline().span(s.lane, s.name, base + clock_.at(s.from) * 1e6,
                              base + clock_.at(s.to) * 1e6);
  }
  spans_.clear();
}

}  // namespace parallax
