// The data-parallel cost model (single, ddp, zero 1/2/3): each rank computes its share of the
// batch (slowed by the ranks sharing the machine), its gradient buckets are reduced one after
// another on one communication queue as backward makes them ready, and what ends after backward
// is exposed. ZeRO-1/2 reduce-scatter instead, step 1/N of the optimizer, and all-gather the
// parameters, which the next forward waits for block by block; ZeRO-3 gathers each block's
// parameters before its forward and its backward (one block ahead) and reduce-scatters its
// gradients after. Communication that runs beside compute slows it by the profile's
// comm_compute_share (Gloo's threads share the cores).
#include <algorithm>
#include <cstdio>
#include <numeric>

#include "parallel/bucket_layout.h"
#include "plan/cost_model.h"

namespace parallax {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

struct DpTimeline {
  double compute_s = 0, exposed_s = 0, comm_s = 0;
};

// Backward from the last block to the first; buckets reduced as they fill.
DpTimeline bucketed_backward(const std::vector<double>& bwd, const BucketLayout& layout,
                             const std::vector<size_t>& param_block,
                             const std::vector<double>& cost, bool overlap) {
  const size_t nb = bwd.size();
  std::vector<double> done(nb);  // when block b's backward ends
  double t = 0;
  for (size_t b = nb; b-- > 0;) done[b] = (t += bwd[b]);
  DpTimeline out;
  out.compute_s = t;
  std::vector<double> ready;
  for (const auto& bucket : layout.buckets) {
    double r = 0;
    for (size_t k : bucket.params) r = std::max(r, done[param_block[k]]);
    ready.push_back(overlap ? r : t);
  }
  const auto ends = serial_queue(ready, cost);
  out.comm_s = std::accumulate(cost.begin(), cost.end(), 0.0);
  out.exposed_s = ends.empty() ? 0 : std::max(0.0, ends.back() - t);
  return out;
}

// The forward waiting for gathered parameters: gathers launched at the start in `order`.
DpTimeline gathered_forward(const std::vector<double>& fwd, const BucketLayout& layout,
                            const std::vector<size_t>& param_block,
                            const std::vector<double>& cost) {
  const size_t nb = fwd.size();
  std::vector<size_t> order;
  for (size_t b = layout.buckets.size(); b-- > 0;) order.push_back(b);
  std::vector<double> ready(order.size(), 0), costs;
  for (size_t b : order) costs.push_back(cost[b]);
  const auto ends = serial_queue(ready, costs);
  std::vector<double> need(nb, 0);  // when block b's parameters are all here
  for (size_t i = 0; i < order.size(); ++i)
    for (size_t k : layout.buckets[order[i]].params)
      need[param_block[k]] = std::max(need[param_block[k]], ends[i]);
  DpTimeline out;
  double t = 0, busy = 0;
  for (size_t b = 0; b < nb; ++b) {
    t = std::max(t, need[b]) + fwd[b];
    busy += fwd[b];
  }
  out.compute_s = busy;
  out.exposed_s = t - busy;
  out.comm_s = std::accumulate(costs.begin(), costs.end(), 0.0);
  return out;
}

// ZeRO-3: one bucket per block with parameters; gather b+1 is queued as block b starts (forward)
// and gather b-1 as block b starts backward; block b's reduce-scatter when its backward ends.
DpTimeline zero3_step(const std::vector<double>& fwd, const std::vector<double>& bwd,
                      const std::vector<double>& gather_fwd, const std::vector<double>& scatter,
                      bool reshard) {
  // Without resharding the forward's gathered parameters stay for backward.
  const std::vector<double> none(fwd.size(), 0);
  const std::vector<double>& gather_bwd = reshard ? gather_fwd : none;
  const std::vector<double>& gather = gather_fwd;
  const size_t nb = fwd.size();
  DpTimeline out;
  double queue = 0, t = 0;
  std::vector<double> have(nb, 0);
  auto enqueue = [&](double at, double cost) { return queue = std::max(queue, at) + cost; };
  if (nb > 0) have[0] = enqueue(0, gather[0]);
  for (size_t b = 0; b < nb; ++b) {
    const double start = std::max(t, have[b]);
    if (b + 1 < nb) have[b + 1] = enqueue(start, gather[b + 1]);
    t = start + fwd[b];
  }
  have[nb - 1] = enqueue(t, gather_bwd[nb - 1]);
  for (size_t b = nb; b-- > 0;) {
    const double start = std::max(t, have[b]);
    if (b > 0) have[b - 1] = enqueue(start, gather_bwd[b - 1]);
    t = start + bwd[b];
    enqueue(t, scatter[b]);
  }
  for (size_t b = 0; b < nb; ++b) {
    out.compute_s += fwd[b] + bwd[b];
    out.comm_s += gather[b] + gather_bwd[b] + scatter[b];
  }
  out.exposed_s = std::max(t, queue) - out.compute_s;
  return out;
}

// Each block's forward and backward at the micro-batch size, slowed by the ranks beside it; the
// loss on the last block's forward.
void slowed_block_seconds(const Profile& p, int64_t rows, double slowdown, std::vector<double>& fwd,
                          std::vector<double>& bwd) {
  const auto times = p.blocks_at(rows);
  const size_t nb = times.size();
  fwd.assign(nb, 0);
  bwd.assign(nb, 0);
  for (size_t b = 0; b < nb; ++b) {
    fwd[b] = times[b].forward * slowdown;
    bwd[b] = times[b].backward * slowdown;
  }
  fwd.back() += p.loss_s_per_row * static_cast<double>(rows) * slowdown;
}

// One rank alone: compute and the optimizer, nothing to communicate.
PredictedStep single_rank_step(const Profile& p, const PlanCandidate& c, int64_t batch,
                               PredictedStep out) {
  char buf[320];
  out.step_s = out.forward_s + out.backward_s + out.optimizer_s + p.step_overhead_s;
  std::snprintf(buf, sizeof buf, "%s: forward %s + backward %s + optimizer %s -> %s/step",
                c.label.c_str(), ms_text(out.forward_s).c_str(), ms_text(out.backward_s).c_str(),
                ms_text(out.optimizer_s).c_str(), ms_text(out.step_s).c_str());
  out.reason = buf;
  out.images_per_sec = static_cast<double>(batch) / out.step_s;
  return out;
}

// Beside compute, a collective shares the cores (processor sharing): it runs 1 + share times
// longer, and the compute loses share x its own time. A collective beside compute: its latency
// as measured under load, its bytes stretched.
double collective_beside_compute(const Profile& p, const CollectiveFit& f, double bytes) {
  const double stretch = 1 + p.comm_compute_share;
  return std::max(f.latency_s, p.loaded_latency_s) + stretch * (f.seconds(bytes) - f.latency_s);
}

// A step's collectives: the timelines they leave backward and forward, the bytes they move, and
// what they are (for the reason).
struct DpComm {
  DpTimeline back, fore;
  double bytes = 0;
  std::string what;
};

// ZeRO-3: per block with parameters, an all-gather before its forward and its backward, and a
// reduce-scatter after.
DpComm zero3_comm(const Profile& p, const PlanCandidate& c, int n, double wire,
                  const std::vector<double>& fwd, const std::vector<double>& bwd) {
  const size_t nb = fwd.size();
  DpComm comm;
  std::vector<double> gather(nb, 0), scatter(nb, 0);
  std::vector<int64_t> per_block(nb, 0);
  for (size_t k = 0; k < p.param_numels.size(); ++k)
    per_block[p.param_block[k]] += p.param_numels[k];
  for (size_t b = 0; b < nb; ++b) {
    if (per_block[b] == 0) continue;
    const double padded = static_cast<double>((per_block[b] + n - 1) / n * n);
    gather[b] = collective_beside_compute(p, p.collective("all_gather"), padded * p.element_bytes);
    scatter[b] = collective_beside_compute(p, p.collective("reduce_scatter"), padded * wire);
    comm.bytes += padded * (2 * p.element_bytes + wire);  // gathered twice, reduce-scattered once
  }
  comm.back = zero3_step(fwd, bwd, gather, scatter, c.reshard_after_forward);
  comm.what = "per-block all-gathers (twice) and reduce-scatters";
  return comm;
}

// DDP and ZeRO-1/2: gradient buckets reduced (or reduce-scattered) as backward fills them; ZeRO
// then all-gathers the parameters, which the next forward waits for.
DpComm bucketed_comm(const Profile& p, const PlanCandidate& c, int n, double wire,
                     const std::vector<double>& fwd, const std::vector<double>& bwd) {
  const bool sharded = c.strategy == "zero";
  DpComm comm;
  const auto layout = plan_buckets(p.param_numels, p.element_bytes, c.first_bucket_mb * kMiB,
                                   c.bucket_mb * kMiB, sharded ? n : 1, c.tail_bucket_mb * kMiB);
  const CollectiveFit reduce = p.collective(sharded ? "reduce_scatter" : "all_reduce");
  std::vector<double> cost, gather;
  for (const auto& bucket : layout.buckets) {
    const double bytes_out = static_cast<double>(bucket.padded) * wire;
    cost.push_back(c.overlap ? collective_beside_compute(p, reduce, bytes_out)
                             : reduce.seconds(bytes_out));
    const double bytes_in = static_cast<double>(bucket.padded) * p.element_bytes;
    gather.push_back(collective_beside_compute(p, p.collective("all_gather"), bytes_in));
    // Moved: the reduced gradients, and for ZeRO the gathered parameters too.
    comm.bytes += static_cast<double>(bucket.padded) * (wire + (sharded ? p.element_bytes : 0));
  }
  const int messages = static_cast<int>(layout.buckets.size());
  comm.back = bucketed_backward(bwd, layout, p.param_block, cost, c.overlap);
  if (sharded) comm.fore = gathered_forward(fwd, layout, p.param_block, gather);
  comm.what = std::string(sharded ? "reduce-scatter + all-gather" : "all-reduce") + " in " +
              std::to_string(messages) + " buckets";
  return comm;
}

std::string data_parallel_reason(const PlanCandidate& c, int n, const DpComm& comm, double stolen,
                                 const PredictedStep& out) {
  char buf[320], slow[64] = "";
  if (out.slowdown > 1.005)
    std::snprintf(slow, sizeof slow, " (x%.2f: %d ranks share the machine)", out.slowdown, n);
  std::snprintf(buf, sizeof buf,
                "%s: forward %s + backward %s%s, %s %s at %s = %s, %.0f%% hidden%s -> %s/step",
                c.label.c_str(), ms_text(out.forward_s).c_str(), ms_text(out.backward_s).c_str(),
                slow, mib_text(comm.bytes).c_str(), comm.what.c_str(),
                rate_text(comm.bytes / std::max(1e-12, out.comm_s)).c_str(),
                ms_text(out.comm_s).c_str(), 100 * out.hidden_fraction,
                stolen > 0.0005 ? (", hiding it costs compute " + ms_text(stolen)).c_str() : "",
                ms_text(out.step_s).c_str());
  return buf;
}

}  // namespace

PredictedStep predict_data_parallel(const Profile& p, const PlanCandidate& c, int64_t batch) {
  const bool single = c.strategy == "single";
  const int n = single ? 1 : c.world;
  const int64_t rows = candidate_rows(c, batch);
  PredictedStep out;
  out.slowdown = p.slowdown_at(n);
  std::vector<double> fwd, bwd;
  slowed_block_seconds(p, rows, out.slowdown, fwd, bwd);
  out.forward_s = std::accumulate(fwd.begin(), fwd.end(), 0.0);
  out.backward_s = std::accumulate(bwd.begin(), bwd.end(), 0.0);
  const int64_t params = std::accumulate(p.param_numels.begin(), p.param_numels.end(), int64_t{0});
  const bool sharded = c.strategy == "zero";
  out.optimizer_s =
      p.optimizer_s_per_param * static_cast<double>(params) / (sharded ? n : 1) * out.slowdown;
  if (n == 1) return single_rank_step(p, c, batch, out);
  const double wire = c.wire_bf16 ? 2 : static_cast<double>(p.element_bytes);
  const DpComm comm = sharded && c.zero_stage == 3 ? zero3_comm(p, c, n, wire, fwd, bwd)
                                                   : bucketed_comm(p, c, n, wire, fwd, bwd);
  if (!sharded) out.optimizer_s += p.scale_s_per_param * static_cast<double>(params) * out.slowdown;
  out.comm_s = comm.back.comm_s + comm.fore.comm_s;
  out.exposed_comm_s = comm.back.exposed_s + comm.fore.exposed_s;
  const double hidden = std::max(0.0, out.comm_s - out.exposed_comm_s);
  out.hidden_fraction = out.comm_s > 0 ? hidden / out.comm_s : 0;
  // The hidden part ran stretched: its own time alone was hidden / stretch.
  const double share = p.comm_compute_share;
  const double stretch = 1 + share;
  const bool stretched = c.overlap || sharded;
  const double stolen = share * hidden / (stretched ? stretch : 1);
  out.step_s = out.forward_s + out.backward_s + out.exposed_comm_s + stolen + out.optimizer_s +
               p.step_overhead_s;
  out.images_per_sec = static_cast<double>(batch) / out.step_s;
  out.reason = data_parallel_reason(c, n, comm, stolen, out);
  return out;
}

}  // namespace parallax
