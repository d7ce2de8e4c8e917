// tp_enter (f) and tp_leave (g) as autograd functions, shard_of(), and the column- and
// row-parallel linear layers.
#include "parallel/tensor_parallel.h"

#include <torch/torch.h>

#include "config/user_error.h"
#include "distributed/collectives.h"
#include "metrics/clock.h"
#include "metrics/timeline.h"

namespace parallax {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The sum of `x` over the group, in a tensor of its own (x is left as it is).
torch::Tensor summed(const torch::Tensor& x, TpContext& tp, const char* purpose) {
  const double start_us = tp.timeline ? tp.timeline->now_us() : 0;
  const Stopwatch watch;
  std::vector<torch::Tensor> t{x.contiguous().clone()};
  all_reduce_sum(tp.group, t, purpose)->wait();
  record_tp_collective(tp, purpose, t[0], start_us, watch.seconds());
  return t[0];
}

// The context travels as an address in the node's saved data: TpContext outlives the graph.
TpContext& context_of(AutogradContext* ctx) {
  return *reinterpret_cast<TpContext*>(ctx->saved_data["tp"].toInt());
}

struct Enter : public torch::autograd::Function<Enter> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, int64_t tp,
                               const char* purpose) {
    ctx->saved_data["tp"] = tp;
    ctx->saved_data["purpose"] = std::string(purpose);
    return x.view_as(x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TpContext& tp = context_of(ctx);
    ++tp.traffic.backward_all_reduces;
    tp.traffic.backward_elements += grads[0].numel();
    const std::string purpose = ctx->saved_data["purpose"].toStringRef();
    return {summed(grads[0], tp, purpose.c_str()), torch::Tensor(), torch::Tensor()};
  }
};

struct Leave : public torch::autograd::Function<Leave> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, int64_t tp,
                               const char* purpose) {
    TpContext& c = *reinterpret_cast<TpContext*>(tp);
    ++c.traffic.forward_all_reduces;
    c.traffic.forward_elements += x.numel();
    return summed(x, c, purpose);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {grads[0], torch::Tensor(), torch::Tensor()};
  }
};

int64_t address_of(TpContext& tp) {
  return reinterpret_cast<int64_t>(&tp);
}

}  // namespace

TpTraffic operator-(const TpTraffic& b, const TpTraffic& a) {
  TpTraffic d;
  d.forward_all_reduces = b.forward_all_reduces - a.forward_all_reduces;
  d.forward_elements = b.forward_elements - a.forward_elements;
  d.backward_all_reduces = b.backward_all_reduces - a.backward_all_reduces;
  d.backward_elements = b.backward_elements - a.backward_elements;
  d.forward_reduce_scatters = b.forward_reduce_scatters - a.forward_reduce_scatters;
  d.forward_all_gathers = b.forward_all_gathers - a.forward_all_gathers;
  d.backward_reduce_scatters = b.backward_reduce_scatters - a.backward_reduce_scatters;
  d.backward_all_gathers = b.backward_all_gathers - a.backward_all_gathers;
  d.bytes = b.bytes - a.bytes;
  d.seconds = b.seconds - a.seconds;
  return d;
}

void record_tp_collective(TpContext& tp, const char* purpose, const torch::Tensor& t,
                          double start_us, double seconds) {
  const int64_t bytes = t.numel() * t.element_size();
  tp.traffic.bytes += bytes;
  tp.traffic.seconds += seconds;
  if (tp.timeline && !tp.timeline->full())
    tp.timeline->collective(std::string(purpose) + " (" + std::to_string(bytes) + " B)", start_us,
                            tp.timeline->now_us());
}

torch::Tensor tp_enter(const torch::Tensor& x, TpContext& tp, const char* purpose) {
  if (tp.world == 1) return x;
  return Enter::apply(x, address_of(tp), purpose);
}

torch::Tensor tp_leave(const torch::Tensor& x, TpContext& tp, const char* purpose) {
  if (tp.world == 1) return x;
  return Leave::apply(x, address_of(tp), purpose);
}

torch::Tensor shard_of(const torch::Tensor& t, int64_t dim, int rank, int world) {
  const int64_t n = t.size(dim);
  if (n % world != 0)
    throw UserError("tensor parallelism: a size of " + std::to_string(n) + " along dimension " +
                    std::to_string(dim) + " does not split over " + std::to_string(world) +
                    " ranks; choose a degree that divides it");
  const int64_t part = n / world;
  return t.detach().narrow(dim, rank * part, part).clone();
}

namespace {

// Rank r's rows of each of `groups` equal parts of t (along dim 0), concatenated.
torch::Tensor grouped_rows(const torch::Tensor& t, int64_t groups, int rank, int world) {
  return grouped_shard_of(t, 0, groups, rank, world);
}

}  // namespace

torch::Tensor grouped_shard_of(const torch::Tensor& t, int64_t dim, int64_t groups, int rank,
                               int world) {
  if (groups == 1) return shard_of(t, dim, rank, world);
  std::vector<torch::Tensor> parts;
  for (const auto& part : t.detach().chunk(groups, dim))
    parts.push_back(shard_of(part, dim, rank, world));
  return torch::cat(parts, dim);
}

void place_grouped_shard(torch::Tensor& whole, const torch::Tensor& shard, int64_t dim,
                         int64_t groups, int rank, int world) {
  torch::NoGradGuard no_grad;
  const int64_t group = whole.size(dim) / groups, part = group / world;
  for (int64_t k = 0; k < groups; ++k)
    whole.narrow(dim, k * group + rank * part, part).copy_(shard.narrow(dim, k * part, part));
}

ColumnParallelLinearImpl::ColumnParallelLinearImpl(const torch::Tensor& w, const torch::Tensor& b,
                                                   TpContext& tp, const char* purpose,
                                                   int64_t groups)
    : tp_(tp), purpose_(purpose) {
  weight = register_parameter("weight", grouped_rows(w, groups, tp.rank, tp.world));
  if (b.defined()) bias = register_parameter("bias", grouped_rows(b, groups, tp.rank, tp.world));
}

torch::Tensor ColumnParallelLinearImpl::forward(const torch::Tensor& x) {
  return at::linear(tp_enter(x, tp_, purpose_), weight, bias);
}

RowParallelLinearImpl::RowParallelLinearImpl(const torch::Tensor& w, const torch::Tensor& b,
                                             TpContext& tp, const char* purpose)
    : tp_(tp), purpose_(purpose) {
  weight = register_parameter("weight", shard_of(w, 1, tp.rank, tp.world));
  if (b.defined()) bias = register_parameter("bias", b.detach().clone());
}

torch::Tensor RowParallelLinearImpl::forward(const torch::Tensor& x) {
  const auto y = tp_leave(at::linear(x, weight), tp_, purpose_);
  return bias.defined() ? y + bias : y;
}

}  // namespace parallax
