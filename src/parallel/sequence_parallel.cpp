// sp_gather and sp_scatter as autograd functions over the flat collectives: the tokens go first
// ([s, b, h], contiguous), so each rank's share is one contiguous chunk of the flat buffer.
#include "parallel/sequence_parallel.h"

#include <torch/torch.h>

#include "config/user_error.h"
#include "distributed/collectives.h"
#include "metrics/clock.h"
#include "metrics/timeline.h"

namespace parallax {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

TpContext& context_at(int64_t address) {
  return *reinterpret_cast<TpContext*>(address);
}

// [b, s/T, h] on each rank to [b, s, h] on every rank.
torch::Tensor gathered_tokens(const torch::Tensor& x, TpContext& tp, const char* purpose) {
  const double start_us = tp.timeline ? tp.timeline->now_us() : 0;
  const Stopwatch watch;
  const auto mine = x.transpose(0, 1).contiguous();  // [s/T, b, h]
  const int64_t n = mine.numel();
  auto flat = torch::empty({n * tp.world}, mine.options());
  flat.narrow(0, n * tp.rank, n).copy_(mine.view(-1));
  all_gather_in_place(tp.group, flat, tp.rank, tp.world, purpose)->wait();
  auto sizes = mine.sizes().vec();
  sizes[0] *= tp.world;
  const auto whole = flat.view(sizes).transpose(0, 1).contiguous();
  record_tp_collective(tp, purpose, flat, start_us, watch.seconds());
  return whole;
}

// [b, s, h] partial sums on each rank to this rank's tokens of their sum, [b, s/T, h].
torch::Tensor scattered_tokens(const torch::Tensor& x, TpContext& tp, const char* purpose) {
  const double start_us = tp.timeline ? tp.timeline->now_us() : 0;
  const Stopwatch watch;
  if (x.size(1) % tp.world != 0)
    throw UserError("--sequence-parallel: " + std::to_string(x.size(1)) +
                    " tokens do not split over " + std::to_string(tp.world) +
                    " ranks; give a --context that divides by --tp");
  // A copy of its own: Gloo's reduce-scatter uses the whole buffer as scratch.
  const auto tokens_first = x.transpose(0, 1).clone(at::MemoryFormat::Contiguous);  // [s, b, h]
  auto out = torch::empty({tokens_first.numel() / tp.world}, x.options());
  auto pending = reduce_scatter_sum(tp.group, tokens_first.view(-1), out, tp.world, purpose);
  pending.work->wait();
  pending.finish();
  auto sizes = tokens_first.sizes().vec();
  sizes[0] /= tp.world;
  record_tp_collective(tp, purpose, tokens_first, start_us, watch.seconds());
  return out.view(sizes).transpose(0, 1).contiguous();
}

struct Gather : public torch::autograd::Function<Gather> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, int64_t tp,
                               const char* purpose) {
    ctx->saved_data["tp"] = tp;
    ctx->saved_data["purpose"] = std::string(purpose);
    TpContext& c = context_at(tp);
    ++c.traffic.forward_all_gathers;
    c.traffic.forward_elements += x.numel() * c.world;
    return gathered_tokens(x, c, purpose);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TpContext& c = context_at(ctx->saved_data["tp"].toInt());
    ++c.traffic.backward_reduce_scatters;
    c.traffic.backward_elements += grads[0].numel();
    const std::string purpose = ctx->saved_data["purpose"].toStringRef() + " gradient";
    return {scattered_tokens(grads[0], c, purpose.c_str()), torch::Tensor(), torch::Tensor()};
  }
};

struct Scatter : public torch::autograd::Function<Scatter> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, int64_t tp,
                               const char* purpose) {
    ctx->saved_data["tp"] = tp;
    ctx->saved_data["purpose"] = std::string(purpose);
    TpContext& c = context_at(tp);
    ++c.traffic.forward_reduce_scatters;
    c.traffic.forward_elements += x.numel();
    return scattered_tokens(x, c, purpose);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TpContext& c = context_at(ctx->saved_data["tp"].toInt());
    ++c.traffic.backward_all_gathers;
    c.traffic.backward_elements += grads[0].numel() * c.world;
    const std::string purpose = ctx->saved_data["purpose"].toStringRef() + " gradient";
    return {gathered_tokens(grads[0], c, purpose.c_str()), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sp_gather(const torch::Tensor& x, TpContext& tp, const char* purpose) {
  if (tp.world == 1) return x;
  return Gather::apply(x, reinterpret_cast<int64_t>(&tp), purpose);
}

torch::Tensor sp_scatter(const torch::Tensor& x, TpContext& tp, const char* purpose) {
  if (tp.world == 1) return x;
  return Scatter::apply(x, reinterpret_cast<int64_t>(&tp), purpose);
}

torch::Tensor sp_part(const torch::Tensor& x, const TpContext& tp, int64_t dim) {
  if (tp.world == 1) return x;
  const int64_t part = x.size(dim) / tp.world;
  return x.narrow(dim, part * tp.rank, part);
}

}  // namespace parallax
