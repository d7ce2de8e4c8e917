// Profile: what the planner knows about a workload on a machine, measured by plan/profiler.h (or
// read from a saved --device-profile): each block's forward, backward, input- and weight-gradient
// seconds at each micro-batch size a candidate uses, the optimizer's cost per parameter, how much
// slower compute runs when k ranks share the machine, and each collective's latency and bandwidth.
// Plain data, no LibTorch: the cost model (plan/cost_model.h) is a pure function of it.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace parallax {

// One block's seconds at a micro-batch size, on one rank alone.
struct BlockTimes {
  double forward = 0;   // F
  double backward = 0;  // B: input and weight gradients together
  double input = 0;     // I: the input gradient only (the zero-bubble split)
  double weight = 0;    // W: the weight gradient (B - I where measured that way)
};

// A collective's seconds for a message of `bytes` (per rank) on its profiled world:
// latency + bytes / bandwidth.
struct CollectiveFit {
  double latency_s = 0;
  double bytes_per_s = 1e18;
  int samples = 0;  // measurements it was fitted to (0: assumed, e.g. from --link-bandwidth)
  double seconds(double bytes) const { return latency_s + bytes / bytes_per_s; }
};

struct Profile {
  std::string model, device, precision, source;  // source: "measured on HOST", "assumed: ..."
  int threads = 1;            // intra-op threads per rank it was measured with
  std::vector<std::string> block_names;
  std::vector<int64_t> block_params;     // parameter elements per block
  std::vector<int64_t> param_numels;     // each parameter's elements, in model order
  std::vector<size_t> param_block;       // each parameter's block
  std::vector<int64_t> output_bytes_per_row;  // each block's output activation bytes per image
  int64_t element_bytes = 4;             // parameters' and gradients' bytes per element
  std::map<int64_t, std::vector<BlockTimes>> blocks_by_rows;  // micro-batch rows -> per block
  // The same, measured with the blocks recomputed (--recompute full or selective): its forward
  // as without, its backward with the forward it runs again. Empty where none was asked for.
  std::map<std::string, std::map<int64_t, std::vector<BlockTimes>>> recomputed_blocks_by_rows;
  double loss_s_per_row = 0;             // the loss and its gradient, per image
  double optimizer_s_per_param = 0;      // one optimizer step, seconds per parameter element
  double scale_s_per_param = 0;          // averaging reduced gradients (a divide), per element
  double step_overhead_s = 0;            // per step, whatever the strategy: batch, zero_grad ...
  // slowdown[k - 1]: compute takes this many times longer while k ranks compute at once on this
  // machine (shared cores, caches, memory bandwidth); slowdown[0] = 1. Empty: 1 for all k (each
  // rank its own device).
  std::vector<double> slowdown;
  // Compute seconds lost per second of a collective running beside it (Gloo's threads use the
  // same cores as the ranks; 0 where a NIC or NVLink does the work).
  double comm_compute_share = 0;
  // A small collective's seconds while the ranks compute (its thread waits for a core): the
  // latency of every collective that runs beside compute, where that is more than its fit's.
  double loaded_latency_s = 0;
  int collectives_world = 1;                     // the world the fits were measured on
  std::map<std::string, CollectiveFit> collectives;  // all_reduce, reduce_scatter, all_gather,
                                                     // send_recv

  // Times at `rows` per micro-batch: the profiled size, else linear between the nearest two (or
  // proportional beyond them). Empty if nothing was profiled.
  std::vector<BlockTimes> blocks_at(int64_t rows) const;
  // This profile as a run under --recompute `mode` sees it: its recomputed block times in place of
  // blocks_by_rows ("none": itself). std::invalid_argument if `mode` was not profiled.
  Profile under_recompute(const std::string& mode) const;
  // The slowdown with k ranks busy (interpolated; the last measured for more).
  double slowdown_at(double k) const;
  // The fit for `kind`, or what the nearest kind gives (all_reduce's data moves twice a
  // reduce-scatter's); a fit with infinite bandwidth if none at all.
  CollectiveFit collective(const std::string& kind) const;
};

}  // namespace parallax
