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

#include "config/exit_codes.h"
#include "config/options.h"
#include "config/user_error.h"
#include "config/validate.h"
#include "distributed/cpu_cores.h"
#include "distributed/device.h"
#include "distributed/interrupt.h"
#include "distributed/launcher.h"
#include "distributed/rank_env.h"
#include "metrics/atomic_file.h"
#include "models/blocks.h"
#include "plan/collective_fit.h"
#include "plan/plan_candidates.h"
#include "plan/plan_check.h"
#include "plan/plan_preflight.h"
#include "plan/plan_profile.h"
#include "plan/plan_table.h"
#include "plan/plan_workload.h"
#include "plan/profile_json.h"

namespace parallax {
namespace fs = std::filesystem;

CLI::App* add_plan_command(CLI::App& app, PlanOptions& opts) {
  auto* plan = app.add_subcommand(
      "plan",
      "which strategy, and why, before spending the compute: profiles the workload, "
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
  g->add_option("--plan-recompute", opts.recompute_modes,
                "activation recomputation settings to consider, comma-separated among none, full "
                "and selective (default: --recompute's if given, else all three for a transformer, "
                "none for a ResNet)");
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

// The profile: the one given (--device-profile), measured in launched ranks, or measured here;
// nullopt when Ctrl-C or SIGTERM stopped the ranks (said in one line).
std::optional<Profile> take_profile(const PlanOptions& opts, const ProfileJob& job,
                                    const PlanModel& m, bool local, std::optional<Profile> given,
                                    int argc, char** argv) {
  const Config& cfg = job.cfg;
  const int world = job.world;
  Profile p;
  if (given) {
    p = std::move(*given);
    if (p.block_names != m.model->block_names())
      throw UserError("--device-profile " + opts.device_profile + ": its blocks (" +
                      std::to_string(p.block_names.size()) + ", model " + p.model + ") are not " +
                      cfg.model + "'s; give a profile of " + cfg.model);
  } else if (local && world > 1) {
    LaunchSpec spec;
    spec.argv.push_back(fs::read_symlink("/proc/self/exe").string());
    for (int i = 1; i < argc; ++i) spec.argv.push_back(argv[i]);
    spec.nproc = world;
    spec.threads_per_rank = cfg.threads;
    spec.comm_timeout_s = std::max(600.0, cfg.comm_timeout);
    spec.quiet_interrupt = true;
    plan_progress("on " + std::to_string(world) + " ranks");
    bool interrupted = false;
    const int rc = launch_ranks(spec, &interrupted);
    if (interrupted) {
      std::fprintf(stderr, "parallax: plan: interrupted while profiling; nothing was written\n");
      return std::nullopt;
    }
    if (rc != 0)
      throw UserError("plan: the profiling ranks failed (exit " + std::to_string(rc) +
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
      for (auto& [kind, fit] : p.collectives)
        fit = rescale_ring(fit, kind, p.collectives_world, world);
      p.collectives_world = world;
    }
  }
  write_file_atomic(job.out_file, profile_to_json(p).dump(1) + "\n");
  return p;
}

// The memory model's prediction per rank for a candidate (activations profiled once per size).
std::vector<PredictedMemory> memory_of(const Config& cfg, const PlanModel& m,
                                       WorkloadsByRecompute& workloads, const PlanCandidate& c,
                                       bool paper, bool quiet) {
  MemoryWorkload& mw = workloads.under(c.recompute);
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
  const int64_t rows = micro_batch_rows(cw, mc);
  const int64_t largest = paper ? kPaperRows : 0;
  // Kernel caches are the process's, left behind by whichever profile ran first: the one without
  // recomputation is taken first, and its workspaces count for every setting.
  MemoryWorkload& plain = workloads.under("none");
  add_activations(cfg, m, rows, plain, largest, quiet);
  add_activations(cfg, m, rows, mw, largest, quiet, &plain);
  cw.activations_by_rows = mw.activations_by_rows;
  cw.rebuilt_by_rows = mw.rebuilt_by_rows;
  cw.workspace_by_rows = plain.workspace_by_rows;
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

// The profile the candidates need: block times at each of their micro-batch sizes.
ProfileJob profile_job_of(const Config& cfg, const CandidateSpace& space,
                          const std::vector<PlanCandidate>& stub, const std::string& out_dir) {
  const int world = space.world;
  ProfileJob job;
  for (const auto& mode : space.recompute)
    if (mode != "none") job.recompute.push_back(mode);
  job.cfg = cfg;
  job.world = world;
  job.rows = candidate_rows_needed(stub, cfg.batch_size);
  job.probe_rows = std::max<int64_t>(1, cfg.batch_size / world);
  job.out_file = out_dir + "/profile.json";
  return job;
}

// On paper, block times are proportional beyond kPaperRows (Profile::blocks_at).
void cap_rows_on_paper(ProfileJob& job) {
  for (auto& r : job.rows) r = std::min(r, kPaperRows);
  job.rows.erase(std::unique(job.rows.begin(), job.rows.end()), job.rows.end());
}

void create_plan_dir(const std::string& out_dir) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw UserError("--out " + out_dir + ": cannot create it (" + ec.message() + ")");
}

// Bytes per rank a candidate may take: --memory-per-rank, else on a CPU this machine's memory
// shared by the ranks (0: no budget).
double plan_memory_budget(const PlanOptions& opts, const PlanModel& m, bool paper, int world) {
  return opts.memory_per_rank_mib > 0
             ? opts.memory_per_rank_mib * 1024 * 1024
             : (m.device.is_cuda() ? 0 : machine_memory_bytes() / (paper ? 1 : world));
}

// Nothing that fits is said before any profiling.
void check_some_candidate_fits(const Config& cfg, const PlanModel& m, WorkloadsByRecompute& mw,
                               const std::vector<PlanCandidate>& stub, bool paper, double budget) {
  if (budget <= 0) return;
  int64_t least = -1;
  for (const auto& c : stub) {
    const int64_t peak = peak_of(memory_of(cfg, m, mw, c, paper, true));
    least = least < 0 ? peak : std::min(least, peak);
  }
  if (static_cast<double>(least) > budget)
    throw UserError("--memory-per-rank: no candidate fits " + mib_int(budget) +
                    " MiB per rank (the smallest needs about " + mib_int(least) +
                    " MiB); give a larger budget, more ranks or a smaller batch");
}

// Every candidate priced: its step time from the cost model, its memory from the memory model.
std::vector<PlanRow> price_candidates(const std::vector<PlanCandidate>& candidates,
                                      const Profile& profile, const Config& cfg, const PlanModel& m,
                                      WorkloadsByRecompute& mw, bool paper, double budget) {
  std::vector<PlanRow> rows;
  for (const auto& c : candidates) {
    PlanRow r;
    r.candidate = c;
    r.predicted = predict_step(profile.under_recompute(c.recompute), c, cfg.batch_size);
    r.memory = memory_of(cfg, m, mw, c, paper, false);
    r.peak_bytes = peak_of(r.memory);
    r.fits = budget <= 0 || static_cast<double>(r.peak_bytes) <= budget;
    rows.push_back(r);
  }
  return rows;
}

PlanHeader plan_header_of(const Config& cfg, const Profile& profile, bool paper, int world,
                          double budget) {
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
  if (cfg.model.rfind("gpt", 0) == 0) h.rate_unit = "seq/s";  // windows of --context tokens
  return h;
}

// Ranked rows put those that fit first: a first row that does not fit means none does.
void check_best_row_fits(const std::vector<PlanRow>& rows, double budget) {
  if (rows.front().fits) return;
  const auto smallest = std::min_element(
      rows.begin(), rows.end(),
      [](const PlanRow& a, const PlanRow& b) { return a.peak_bytes < b.peak_bytes; });
  throw UserError("--memory-per-rank: no candidate fits " + mib_int(budget) +
                  " MiB per rank (the smallest needs " +
                  mib_int(static_cast<double>(smallest->peak_bytes)) +
                  " MiB); give a larger budget, more ranks or a smaller batch");
}

// The arguments every --check run shares: the workload's own, the plan's threads, and what a
// short timed run needs unless the user gave it.
std::vector<std::string> check_run_args(const PlanOptions& opts, const Config& cfg, int steps,
                                        int argc, char** argv) {
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
  return extra;
}

}  // namespace

int plan_main(const PlanOptions& given, int argc, char** argv) {
  // Ctrl-C or SIGTERM stops plan at any moment, in one line with exit code 130: its files are
  // written atomically, and while its profiling ranks or its checks run, the launcher and the
  // suite runner handle the signal and put this back. Not in the profiling ranks: a signal ends
  // them as it ends a process with no handler.
  std::optional<ExitOnInterrupt> stop;
  if (!rank_env_from(::getenv)) stop.emplace("parallax: plan: interrupted\n");
  if (given.memory) return memory_plan_main(given);
  PlanOptions opts = given;
  Config cfg = opts.cfg;
  validate(cfg);
  const int world = opts.world > 0 ? opts.world : (cfg.nproc > 1 ? cfg.nproc : 2);
  const int cores = cpu_cores();
  const bool paper = opts.link_gbps > 0 || !opts.device_profile.empty();
  check_world_runs_here(world, cores, paper);
  if (cfg.threads <= 0) cfg.threads = paper ? cores : std::max(1, cores / world);
  const std::string out_dir = cfg.out.empty() ? "runs/plan" : cfg.out;
  check_check_option(opts, paper);
  std::optional<Profile> given_profile;  // a bad file is said now, before any work
  if (!opts.device_profile.empty()) given_profile = read_profile_file(opts.device_profile);
  CandidateSpace space = candidate_space_of(opts, cfg, world);

  const PlanModel m = build_plan_model(cfg);
  MemoryWorkload mw = memory_workload(cfg, m);
  const auto stub_candidates = plan_candidates(space, parameter_stub(m, mw));
  WorkloadsByRecompute workloads(mw);
  ProfileJob job = profile_job_of(cfg, space, stub_candidates, out_dir);
  if (rank_env_from(::getenv)) {  // a profiling rank started by take_profile's launcher
    profile_in_rank(job);
    return 0;
  }
  if (paper) cap_rows_on_paper(job);
  check_some_candidate_runs(stub_candidates, opts, cfg, world);
  create_plan_dir(out_dir);
  configure_threads(cfg.threads);
  const double budget = plan_memory_budget(opts, m, paper, world);
  check_some_candidate_fits(cfg, m, workloads, stub_candidates, paper, budget);
  const auto profiled = take_profile(opts, job, m, !paper, std::move(given_profile), argc, argv);
  if (!profiled) return kInterruptedExit;
  const Profile& profile = *profiled;
  keep_profiled_recompute(space, profile);
  // The machine's speed when profiled, by the probe --check repeats around every run.
  const ComputeProbe probe = probe_of(job, m);
  const int64_t probe_rows = job.probe_rows;
  const double reference_at_profile = opts.check.empty() ? 0 : reference_seconds(probe, probe_rows);

  std::vector<PlanRow> rows =
      price_candidates(plan_candidates(space, profile), profile, cfg, m, workloads, paper, budget);
  rank_rows(rows);
  PlanHeader h = plan_header_of(cfg, profile, paper, world, budget);
  print_plan(h, rows);
  check_best_row_fits(rows, budget);
  const std::string plan_file = out_dir + "/plan.json";
  write_file_atomic(plan_file, plan_json(h, rows).dump(2) + "\n");
  std::printf("plan: wrote %s\n", plan_file.c_str());
  if (opts.check.empty()) return 0;
  const auto which = rows_to_check(rows, opts.check);
  const int steps = cfg.steps > 0 ? cfg.steps : 8;
  const auto extra = check_run_args(opts, cfg, steps, argc, argv);
  std::printf("plan: checking %zu of %zu candidates, %d round%s of %d timed steps each, into %s\n",
              which.size(), rows.size(), opts.check_rounds, opts.check_rounds == 1 ? "" : "s",
              steps, out_dir.c_str());
  std::fflush(stdout);
  const bool finished = run_checks(
      rows, which, extra, steps, opts.check_rounds, out_dir,
      [&] { return reference_seconds(probe, probe_rows); }, reference_at_profile);
  h.check_interrupted = !finished;
  write_file_atomic(plan_file, plan_json(h, rows).dump(2) + "\n");
  print_check(rows, !finished);
  if (!finished) {
    std::fflush(stdout);
    const auto ran =
        std::count_if(rows.begin(), rows.end(), [](const PlanRow& r) { return r.checked; });
    std::fprintf(stderr,
                 "parallax: plan: interrupted after checking %zu of %zu candidates; %s holds "
                 "what they measured and says so; the same command again checks the rest\n",
                 static_cast<size_t>(ran), which.size(), plan_file.c_str());
    return kInterruptedExit;
  }
  if (opts.write_report) std::printf("plan: report: %s\n", opts.write_report(out_dir, "").c_str());
  return 0;
}

}  // namespace parallax
