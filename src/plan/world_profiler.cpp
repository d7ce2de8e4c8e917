// profile_world(): every rank takes part in every measurement (those not in a probe wait at the
// barrier); rank 0's view is what the profile keeps, all-reduced where ranks differ.
#include "plan/world_profiler.h"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "distributed/collectives.h"
#include "distributed/dist_context.h"
#include "models/blocks.h"
#include "plan/collective_fit.h"
#include "plan/fastest_run.h"

namespace parallax {
namespace {

using Clock = ProfileClock;

// Waits until a collective's data is really there (NCCL's wait() only orders the stream).
void settle(DistContext& ctx, const torch::Tensor& t) {
  if (ctx.device.is_cuda()) t.sum().item<double>();
}

void barrier(DistContext& ctx) {
  auto t = torch::zeros({1}, torch::TensorOptions().device(ctx.device));
  std::vector<torch::Tensor> v{t};
  all_reduce_sum(ctx.world_pg, v, "profile: barrier")->wait();
  settle(ctx, t);
}

// The largest value over ranks (the slowest rank decides a synchronous step).
double max_over_ranks(DistContext& ctx, double x) {
  auto t = torch::full({1}, x, torch::TensorOptions().dtype(torch::kDouble).device(ctx.device));
  std::vector<torch::Tensor> v{t};
  all_reduce_max(ctx.world_pg, v, "profile: slowest rank")->wait();
  return t.item<double>();
}

double time_collective(DistContext& ctx, const std::string& kind, int64_t bytes) {
  const int n = ctx.world;
  const int64_t numel = std::max<int64_t>(n, bytes / 4 / n * n);
  const auto on = torch::TensorOptions().device(ctx.device);
  auto flat = torch::ones({numel}, on);
  auto out = torch::empty({numel / n}, on);
  auto once = [&] {
    if (kind == "all_reduce") {
      std::vector<torch::Tensor> v{flat};
      all_reduce_sum(ctx.world_pg, v, "profile: all-reduce")->wait();
    } else if (kind == "reduce_scatter") {
      auto p = reduce_scatter_sum(ctx.world_pg, flat, out, n);
      p.work->wait();
      p.finish();
    } else if (kind == "all_gather") {
      all_gather_in_place(ctx.world_pg, flat, ctx.rank, n)->wait();
    } else {  // send_recv: a ping-pong between ranks 0 and 1, half its round trip
      // On the host for Gloo (its send and recv read host memory), as the pipeline sends.
      std::vector<torch::Tensor> v{flat.to(host_side_device(ctx.world_pg, ctx.device))};
      const char* what = "profile: send/recv";
      if (ctx.rank == 0) {
        send(ctx.world_pg, v, 1, 7, what)->wait();
        recv(ctx.world_pg, v, 1, 8, what)->wait();
      } else if (ctx.rank == 1) {
        recv(ctx.world_pg, v, 0, 7, what)->wait();
        send(ctx.world_pg, v, 0, 8, what)->wait();
      }
    }
    settle(ctx, flat);
  };
  once();  // warm-up: connections, buffers
  std::vector<double> runs;
  for (int r = 0; r < 3; ++r) {
    barrier(ctx);
    const auto t0 = Clock::now();
    once();
    runs.push_back(seconds_since(t0) / (kind == "send_recv" ? 2 : 1));
  }
  return max_over_ranks(ctx, fastest(runs));
}

void world_progress(const DistContext& ctx, const std::function<void(const std::string&)>& progress,
                    const std::string& s) {
  if (ctx.is_root() && progress) progress(s);
}

// Slowdown: k ranks run the same forward + backward at once, the rest wait.
void measure_slowdown(DistContext& ctx, const ComputeProbe& probe, int64_t rows, Profile& out) {
  const int n = ctx.world;
  time_forward_backward(probe, rows, 1);
  out.slowdown.assign(n, 1);
  double alone = 0;
  for (int k = 1; k <= n; ++k) {
    std::vector<double> runs;
    for (int r = 0; r < 3; ++r) {
      barrier(ctx);
      const double t = ctx.rank < k ? time_forward_backward(probe, rows) : 0;
      runs.push_back(max_over_ranks(ctx, t));
    }
    const double m = fastest(runs);
    if (k == 1) alone = m;
    out.slowdown[k - 1] = std::max(1.0, m / alone);
  }
}

// Collectives at a few sizes, fitted.
void measure_collectives(DistContext& ctx, Profile& out,
                         const std::function<void(const std::string&)>& progress) {
  const int n = ctx.world;
  out.collectives.clear();
  out.collectives_world = n;
  const std::vector<int64_t> sizes{64 << 10, 1 << 20, 8 << 20, 32 << 20};
  for (const auto& kind : collective_kinds()) {
    world_progress(ctx, progress, "collective " + kind + " on " + std::to_string(n) + " ranks");
    std::vector<std::pair<double, double>> samples;
    for (int64_t s : sizes)
      samples.push_back({static_cast<double>(s), time_collective(ctx, kind, s)});
    out.collectives[kind] = fit_collective(samples);
  }
}

// Every rank's forward + backward, with an all-reduce of `grads` in flight and without.
struct ComputeBesideComm {
  std::vector<double> with, without, comm;
};

ComputeBesideComm time_compute_beside_all_reduce(DistContext& ctx, const ComputeProbe& probe,
                                                 int64_t rows, const torch::Tensor& grads) {
  ComputeBesideComm out;
  for (int r = 0; r < 3; ++r) {
    barrier(ctx);
    out.without.push_back(max_over_ranks(ctx, time_forward_backward(probe, rows)));
    barrier(ctx);
    std::vector<torch::Tensor> v{grads};
    const auto t0 = Clock::now();
    auto work = all_reduce_sum(ctx.world_pg, v, "profile: all-reduce beside compute");
    const double t = time_forward_backward(probe, rows);
    work->wait();
    settle(ctx, grads);
    const double total = seconds_since(t0);
    out.with.push_back(max_over_ranks(ctx, t));
    out.comm.push_back(max_over_ranks(ctx, total));
  }
  return out;
}

// One forward + backward with a helper thread issuing small all-reduces one after another; the
// seconds of each that ended before the compute did.
std::vector<double> small_collectives_during_compute(DistContext& ctx, const ComputeProbe& probe,
                                                     int64_t rows) {
  std::atomic<bool> computing{true};
  std::vector<double> each;
  std::thread issuer([&] {
    // On a stream of its own: on the compute's, each would wait for the compute queued before it.
    const OffComputeStream off_compute(ctx.device);
    auto small = torch::ones({256}, torch::TensorOptions().device(ctx.device));
    // The same count on every rank (collectives must match); those after the compute ended
    // are not counted.
    for (int i = 0; i < 48; ++i) {
      std::vector<torch::Tensor> v{small};
      const auto t0 = Clock::now();
      all_reduce_sum(ctx.world_pg, v, "profile: loaded latency")->wait();
      settle(ctx, small);
      if (computing.load()) each.push_back(seconds_since(t0));
    }
  });
  time_forward_backward(probe, rows);
  computing = false;
  issuer.join();
  return each;
}

// A small collective beside compute: latency-bound, it waits for the scheduler to give its
// thread a core the compute is using. The fastest round's mean, the slowest rank's.
double loaded_small_collective_latency(DistContext& ctx, const ComputeProbe& probe, int64_t rows) {
  std::vector<double> loaded;
  for (int r = 0; r < 2; ++r) {
    barrier(ctx);
    const std::vector<double> each = small_collectives_during_compute(ctx, probe, rows);
    double mean = 0;
    for (double t : each) mean += t / static_cast<double>(each.size());
    if (!each.empty()) loaded.push_back(mean);  // none ended before the compute: no reading
  }
  return max_over_ranks(ctx, loaded.empty() ? 0 : fastest(loaded));
}

}  // namespace

void profile_world(DistContext& ctx, const ComputeProbe& probe, int64_t rows, Profile& out,
                   const std::function<void(const std::string&)>& progress) {
  const int n = ctx.world;
  barrier(ctx);  // no rank starts while another is still busy (rank 0's compute half)
  world_progress(ctx, progress, "compute with 1.." + std::to_string(n) + " ranks busy at once");
  measure_slowdown(ctx, probe, rows, out);
  measure_collectives(ctx, out, progress);
  // Compute beside a collective: every rank's forward + backward with an all-reduce of the
  // model's gradient size in flight, against the same without.
  world_progress(ctx, progress, "compute beside a running all-reduce");
  int64_t numel = 0;
  for (const auto& p : probe.model->parameters()) numel += p.numel();
  auto grads = torch::ones({numel}, torch::TensorOptions().device(ctx.device));
  const ComputeBesideComm beside = time_compute_beside_all_reduce(ctx, probe, rows, grads);
  world_progress(ctx, progress, "small collectives beside compute");
  out.loaded_latency_s = loaded_small_collective_latency(ctx, probe, rows);
  const double alone_comm = out.collectives["all_reduce"].seconds(static_cast<double>(numel) * 4);
  const double overlapped = std::min(alone_comm, fastest(beside.with));
  out.comm_compute_share =
      overlapped > 0
          ? std::clamp((fastest(beside.with) - fastest(beside.without)) / overlapped, 0.0, 2.0)
          : 0;
}

}  // namespace parallax
