// profile_here() and profile_in_rank().
#include "plan/plan_profile.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "distributed/device.h"
#include "distributed/dist_context.h"
#include "distributed/heartbeat.h"
#include "metrics/atomic_file.h"
#include "metrics/system_info.h"
#include "models/blocks.h"
#include "models/recompute.h"
#include "parallel/mixed_precision.h"
#include "plan/block_profiler.h"
#include "plan/plan_workload.h"
#include "plan/profile_json.h"
#include "plan/world_profiler.h"

namespace parallax {

void plan_progress(const std::string& what) {
  std::fprintf(stderr, "parallax: plan: profiling %s\n", what.c_str());
}

ComputeProbe probe_of(const ProfileJob& job, const PlanModel& m) {
  ComputeProbe probe;
  probe.model = m.model.get();
  probe.sample = m.sample;
  probe.precision = precision_for(job.cfg, m.device);
  probe.channels_last = job.cfg.channels_last;
  probe.device = m.device;
  return probe;
}

Profile profile_here(const ProfileJob& job, const PlanModel& m) {
  Profile p;
  const Config& cfg = job.cfg;
  p.model = cfg.model;
  p.device = m.device.str();
  p.precision = precision_for(cfg, m.device).name;
  p.source = "measured on " + host_name();
  p.threads = cfg.threads;
  p.block_names = m.model->block_names();
  p.element_bytes = cfg.dtype == "fp64" ? 8 : 4;
  const auto by_block = m.model->parameter_indices_by_block();
  const auto params = m.model->parameters();
  for (size_t b = 0; b < by_block.size(); ++b) {
    int64_t n = 0;
    for (size_t k : by_block[b]) {
      n += params[k].numel();
      p.param_numels.push_back(params[k].numel());
      p.param_block.push_back(b);
    }
    p.block_params.push_back(n);
  }
  const ComputeProbe probe = probe_of(job, m);
  profile_blocks(probe, job.rows, p, plan_progress);
  for (const auto& mode : job.recompute) {
    plan_progress("the blocks under --recompute " + mode);
    m.model->set_recompute(recompute_from_name(mode));
    Profile recomputed;
    profile_blocks(probe, job.rows, recomputed, plan_progress);
    m.model->set_recompute(Recompute::kNone);
    p.recomputed_blocks_by_rows[mode] = recomputed.blocks_by_rows;
  }
  plan_progress("the optimizer (" + cfg.optimizer + ")");
  profile_optimizer(cfg, probe, p);
  profile_step_overhead(cfg, probe, job.probe_rows, p);
  return p;
}

void profile_in_rank(const ProfileJob& job) {
  start_heartbeat_from_env();
  // No interrupt handlers: profiling reads no interrupt flag, so a signal ends the rank at once.
  Config cfg = job.cfg;
  cfg.strategy = "ddp";
  cfg.nproc = job.world;
  // The others wait while rank 0 profiles the compute alone: minutes for a large model.
  cfg.comm_timeout = std::max(cfg.comm_timeout, 3600.0);
  DistContext ctx = make_dist_context(cfg, rank_env_from(::getenv));
  configure_threads(cfg.threads);
  cfg.device = ctx.device.str();  // each rank on its own device
  const PlanModel m = build_plan_model(cfg);
  Profile p;
  if (ctx.is_root()) p = profile_here(job, m);  // the others wait at profile_world's start
  profile_world(ctx, probe_of(job, m), job.probe_rows, p, plan_progress);
  if (ctx.is_root()) write_file_atomic(job.out_file, profile_to_json(p).dump(1) + "\n");
}

}  // namespace parallax
