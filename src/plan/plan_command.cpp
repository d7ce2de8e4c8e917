// plan_main(): the options, the profile (here, in launched ranks, or from a file), the candidates
// priced and ranked, plan.json, and --check.
#include "plan/plan_command.h"

#include <torch/torch.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include "config/options.h"
#include "config/user_error.h"
#include "config/validate.h"
#include "distributed/device.h"
#include "distributed/launcher.h"
#include "distributed/rank_env.h"
#include "metrics/atomic_file.h"
#include "metrics/system_info.h"
#include "models/blocks.h"
#include "plan/collective_fit.h"
#include "plan/plan_candidates.h"
#include "plan/plan_check.h"
#include "plan/plan_profile.h"
#include "plan/plan_table.h"
#include "plan/plan_workload.h"
#include "plan/profile_json.h"

namespace parallax {
namespace fs = std::filesystem;

CLI::App* add_plan_command(CLI::App& app, PlanOptions& opts) {
  auto* plan = app.add_subcommand(
      "plan", "which strategy, and why, before spending the compute: profiles the workload, "
              "predicts step time and memory per rank for every strategy and schedule, ranks them "
              "(OUT/plan.json); --check runs the top ones to compare; --memory prints the memory "
              "model alone");
  opts.app = plan;
  add_train_options(*plan, opts.cfg);
  auto* g = plan->add_option_group("plan");
  g->add_option("--world", opts.world, "ranks to plan for (default: --nproc, else 2)")
      ->check(CLI::Range(1, 4096));
  g->add_flag("--memory", opts.memory, "only the memory model: bytes per rank by kind");
  g->add_option("--json", opts.json, "--memory: also write its rows to this file (JSON)");
  g->add_option("--check", opts.check,
                "run the top K predictions plus a spread of the others (K, or all) for real, "
                "--steps timed steps each (default 8), and compare");
  g->add_option("--check-rounds", opts.check_rounds,
                "--check: run each row this many times, round after round; the best round counts")
      ->check(CLI::Range(1, 20));
  g->add_option("--strategies", opts.strategies,
                "comma-separated subset to plan: single,ddp,zero,model,pipeline,hybrid");
  g->add_option("--plan-micro-batches", opts.micro_batches,
                "pipeline micro-batch counts to consider (default: world, 2x and 4x)")
      ->delimiter(',');
  g->add_option("--memory-per-rank", opts.memory_per_rank_mib,
                "memory budget per rank in MiB (default: this machine's memory / ranks)")
      ->check(CLI::PositiveNumber);
  g->add_option("--link-bandwidth", opts.link_gbps,
                "plan on paper: GB/s each rank sends over the slowest link (ring collectives)")
      ->check(CLI::PositiveNumber);
  g->add_option("--link-latency", opts.link_latency_us, "plan on paper: the link's latency (us)")
      ->check(CLI::NonNegativeNumber);
  g->add_option("--device-profile", opts.device_profile,
                "plan with this profile.json (per-block times taken on another device) instead of "
                "profiling here");
  return plan;
}

namespace {

constexpr int64_t kPaperRows = 16;

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

double machine_memory_bytes() {
  return static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
}

// Block times of one per parameter: cuts by parameter count, for what is decided before
// profiling (the micro-batch sizes to profile, whether anything runs or fits).
Profile parameter_stub(const PlanModel& m, const MemoryWorkload& w) {
  Profile stub;
  stub.block_names = m.model->block_names();
  stub.block_params = w.block_params;
  stub.param_numels = w.param_numels;
  stub.param_block = w.param_block;
  std::vector<BlockTimes> unit;
  for (int64_t n : w.block_params) unit.push_back({1.0 + n, 1.0 + n, 0.5 + n / 2.0, 0.5 + n / 2.0});
  stub.blocks_by_rows[1] = unit;
  return stub;
}

// The profile: the one given (--device-profile), measured in launched ranks, or measured here.
Profile take_profile(const PlanOptions& opts, const ProfileJob& job, const PlanModel& m,
                     bool local, std::optional<Profile> given, int argc, char** argv) {
  const Config& cfg = job.cfg;
  const int world = job.world;
  Profile p;
  if (given) {
    p = std::move(*given);
    if (p.block_names != m.model->block_names())
      throw UserError("--device-profile " + opts.device_profile + ": its blocks (" +
                      std::to_string(p.block_names.size()) + ", model " + p.model +
                      ") are not " + cfg.model + "'s; give a profile of " + cfg.model);
  } else if (local && world > 1) {
    LaunchSpec spec;
    spec.argv.push_back(fs::read_symlink("/proc/self/exe").string());
    for (int i = 1; i < argc; ++i) spec.argv.push_back(argv[i]);
    spec.nproc = world;
    spec.threads_per_rank = cfg.threads;
    spec.comm_timeout_s = std::max(600.0, cfg.comm_timeout);
    plan_progress("on " + std::to_string(world) + " ranks");
    const int rc = launch_ranks(spec);
    if (rc != 0) throw UserError("plan: the profiling ranks failed (exit " + std::to_string(rc) +
                                 "); see the lines above");
    p = read_profile_file(job.out_file);
  } else {
    p = profile_here(job, m);
  }
  // A saved profile of this very world (its collectives measured on as many ranks) keeps what it
  // measured of the machine; any other stands for a world of devices of their own.
  const bool own_world = !opts.device_profile.empty() && opts.link_gbps <= 0 &&
                         p.collectives_world == world && !p.collectives.empty();
  if (!local && !own_world) {
    // On paper: each rank its own device; collectives from the link's ring forms.
    p.slowdown.clear();
    p.comm_compute_share = 0;
    p.loaded_latency_s = 0;
    if (opts.link_gbps > 0) {
      p.collectives = ring_fits(world, {opts.link_latency_us * 1e-6, opts.link_gbps * 1e9});
      p.collectives_world = world;
    } else if (p.collectives_world != world) {
      for (auto& [kind, fit] : p.collectives) fit = rescale_ring(fit, kind, p.collectives_world, world);
      p.collectives_world = world;
    }
  }
  write_file_atomic(job.out_file, profile_to_json(p).dump(1) + "\n");
  return p;
}

// The memory model's prediction per rank for a candidate (activations profiled once per size).
std::vector<PredictedMemory> memory_of(const Config& cfg, const PlanModel& m, MemoryWorkload& mw,
                                       const PlanCandidate& c, bool paper, bool quiet) {
  MemoryCandidate mc;
  mc.label = c.label;
  mc.strategy = c.strategy == "hybrid" ? "pipeline" : c.strategy;
  mc.world = c.strategy == "hybrid" ? c.pp : c.world;
  mc.zero_stage = c.zero_stage;
  mc.buckets_in_flight = cfg.buckets_in_flight;
  mc.reshard_after_forward = cfg.reshard_after_forward;
  mc.schedule = c.schedule;
  mc.micro_batches = c.micro_batches;
  mc.virtual_stages = c.virtual_stages;
  mc.cuts = c.cuts;
  MemoryWorkload cw = mw;
  if (c.strategy == "hybrid") cw.batch = cfg.batch_size / c.dp;
  // On paper the batch may be far larger than this machine holds: profiled at up to
  // kPaperRows images, proportional beyond.
  add_activations(cfg, m, micro_batch_rows(cw, mc), mw, paper ? kPaperRows : 0, quiet);
  cw.activations_by_rows = mw.activations_by_rows;
  cw.workspace_by_rows = mw.workspace_by_rows;
  return predict_memory(cw, mc);
}

int64_t peak_of(const std::vector<PredictedMemory>& ranks) {
  int64_t peak = 0;
  for (const auto& r : ranks) peak = std::max(peak, r.peak);
  return peak;
}

std::string mib_int(double bytes) {
  return std::to_string(static_cast<long long>(bytes / (1024 * 1024)));
}

}  // namespace

int plan_main(const PlanOptions& given, int argc, char** argv) {
  if (given.memory) return memory_plan_main(given);
  PlanOptions opts = given;
  Config cfg = opts.cfg;
  validate(cfg);
  const int world = opts.world > 0 ? opts.world : (cfg.nproc > 1 ? cfg.nproc : 2);
  const int cores = cpu_cores();
  constexpr int kRanksPerCore = 4;
  const bool paper = opts.link_gbps > 0 || !opts.device_profile.empty();
  if (!paper && world > kRanksPerCore * cores)
    throw UserError("--world " + std::to_string(world) + ": more ranks than this machine runs (" +
                    std::to_string(cores) + " cores); to plan it on paper give --link-bandwidth " +
                    "GB/s and --link-latency us (and --device-profile FILE for another device)");
  if (cfg.threads <= 0) cfg.threads = paper ? cores : std::max(1, cores / world);
  const std::string out_dir = cfg.out.empty() ? "runs/plan" : cfg.out;
  if (!opts.check.empty()) rows_to_check({}, opts.check);  // a bad K is said before any work
  if (!opts.check.empty() && paper)
    throw UserError("--check: this plan is for a machine not measured here (--link-bandwidth or "
                    "--device-profile); check a plan of this machine's own world");
  std::optional<Profile> given_profile;  // a bad file is said now, before any work
  if (!opts.device_profile.empty()) given_profile = read_profile_file(opts.device_profile);

  CandidateSpace space;
  space.world = world;
  space.batch = cfg.batch_size;
  space.strategies = split_list(opts.strategies);
  for (const auto& s : space.strategies)
    if (std::find(plan_strategy_names().begin(), plan_strategy_names().end(), s) ==
        plan_strategy_names().end())
      throw UserError("--strategies: unknown strategy '" + s +
                      "'; use single, ddp, zero, model, pipeline or hybrid");
  space.micro_batches = opts.micro_batches;
  space.bucket_mb = cfg.bucket_mb;
  space.tail_bucket_mb = cfg.tail_bucket_mb;
  space.wire_bf16 = cfg.grad_reduce_dtype == "bf16";
  space.reshard_after_forward = cfg.reshard_after_forward;

  const PlanModel m = build_plan_model(cfg);
  MemoryWorkload mw = memory_workload(cfg, m);
  const auto stub_candidates = plan_candidates(space, parameter_stub(m, mw));
  ProfileJob job;
  job.cfg = cfg;
  job.world = world;
  job.rows = candidate_rows_needed(stub_candidates, cfg.batch_size);
  job.probe_rows = std::max<int64_t>(1, cfg.batch_size / world);
  job.out_file = out_dir + "/profile.json";
  if (rank_env_from(::getenv)) {  // a profiling rank started by take_profile's launcher
    profile_in_rank(job);
    return 0;
  }
  if (paper) {  // block times proportional beyond kPaperRows (Profile::blocks_at)
    for (auto& r : job.rows) r = std::min(r, kPaperRows);
    job.rows.erase(std::unique(job.rows.begin(), job.rows.end()), job.rows.end());
  }
  if (stub_candidates.empty())
    throw UserError("plan: no strategy" +
                    (opts.strategies.empty() ? std::string() : " of --strategies " + opts.strategies) +
                    " runs batch " + std::to_string(cfg.batch_size) + " on " +
                    std::to_string(world) + " ranks (a batch that does not split over them, or " +
                    "more stages than " + cfg.model + " has blocks); change --world or --batch-size");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw UserError("--out " + out_dir + ": cannot create it (" + ec.message() + ")");
  configure_threads(cfg.threads);
  const double budget = opts.memory_per_rank_mib > 0
                            ? opts.memory_per_rank_mib * 1024 * 1024
                            : (m.device.is_cuda() ? 0 : machine_memory_bytes() / (paper ? 1 : world));
  if (budget > 0) {  // nothing that fits: said before any profiling
    int64_t least = -1;
    for (const auto& c : stub_candidates) {
      const int64_t peak = peak_of(memory_of(cfg, m, mw, c, paper, true));
      least = least < 0 ? peak : std::min(least, peak);
    }
    if (static_cast<double>(least) > budget)
      throw UserError("--memory-per-rank: no candidate fits " + mib_int(budget) +
                      " MiB per rank (the smallest needs about " + mib_int(least) +
                      " MiB); give a larger budget, more ranks or a smaller batch");
  }
  const Profile profile =
      take_profile(opts, job, m, !paper, std::move(given_profile), argc, argv);
  // The machine's speed when profiled, by the probe --check repeats around every run.
  const ComputeProbe probe = probe_of(job, m);
  const int64_t probe_rows = job.probe_rows;
  const double reference_at_profile = opts.check.empty() ? 0 : reference_seconds(probe, probe_rows);

  // Price every candidate; memory from the memory model.
  std::vector<PlanRow> rows;
  for (const auto& c : plan_candidates(space, profile)) {
    PlanRow r;
    r.candidate = c;
    r.predicted = predict_step(profile, c, cfg.batch_size);
    r.memory = memory_of(cfg, m, mw, c, paper, false);
    r.peak_bytes = peak_of(r.memory);
    r.fits = budget <= 0 || static_cast<double>(r.peak_bytes) <= budget;
    rows.push_back(r);
  }
  rank_rows(rows);
  PlanHeader h;
  h.model = cfg.model;
  h.precision = profile.precision;
  h.device = profile.device;
  h.profile_source = profile.source;
  h.scale = paper ? "prediction" : "measured";
  h.world = world;
  h.threads = cfg.threads;
  h.batch = cfg.batch_size;
  h.budget_bytes = budget;
  print_plan(h, rows);
  if (!rows.front().fits)
    throw UserError("--memory-per-rank: no candidate fits " + mib_int(budget) +
                    " MiB per rank (the smallest needs " +
                    mib_int(static_cast<double>(std::min_element(rows.begin(), rows.end(),
                        [](const PlanRow& a, const PlanRow& b) { return a.peak_bytes < b.peak_bytes; })
                        ->peak_bytes)) +
                    " MiB); give a larger budget, more ranks or a smaller batch");
  const std::string plan_file = out_dir + "/plan.json";
  write_file_atomic(plan_file, plan_json(h, rows).dump(2) + "\n");
  std::printf("plan: wrote %s\n", plan_file.c_str());
  if (opts.check.empty()) return 0;
  const auto which = rows_to_check(rows, opts.check);
  const int steps = cfg.steps > 0 ? cfg.steps : 8;
  auto extra = workload_args(*opts.app, argc, argv);
  extra.insert(extra.end(), {"--threads", std::to_string(cfg.threads)});
  auto given_opt = [&](const std::string& name) {  // as "--name" or "--name=value"
    return std::any_of(extra.begin(), extra.end(), [&](const std::string& a) {
      return a == name || a.rfind(name + "=", 0) == 0;
    });
  };
  if (cfg.dataset == "synthetic" && !given_opt("--synthetic-train"))
    extra.insert(extra.end(), {"--synthetic-train", std::to_string(cfg.batch_size * (steps + 3))});
  if (cfg.dataset == "synthetic" && !given_opt("--synthetic-test"))
    extra.insert(extra.end(), {"--synthetic-test", std::to_string(cfg.batch_size)});
  if (!given_opt("--no-checkpoint")) extra.push_back("--no-checkpoint");
  if (!given_opt("--epochs")) extra.insert(extra.end(), {"--epochs", "1"});
  std::printf("plan: checking %zu of %zu candidates, %d round%s of %d timed steps each, into %s\n",
              which.size(), rows.size(), opts.check_rounds, opts.check_rounds == 1 ? "" : "s", steps,
              out_dir.c_str());
  std::fflush(stdout);
  const bool finished = run_checks(rows, which, extra, steps, opts.check_rounds, out_dir,
                                   [&] { return reference_seconds(probe, probe_rows); },
                                   reference_at_profile);
  write_file_atomic(plan_file, plan_json(h, rows).dump(2) + "\n");
  print_check(rows);
  if (!finished) return 130;
  if (opts.write_report) std::printf("plan: report: %s\n", opts.write_report(out_dir, "").c_str());
  return 0;
}

}  // namespace parallax
