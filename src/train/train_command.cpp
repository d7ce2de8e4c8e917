// The train command: set up device, data, model and strategy; train; write the run directory.
#include "train/train_command.h"

#include <torch/torch.h>

#include <ctime>
#include <filesystem>
#include <fstream>

#include "config/user_error.h"
#include "config/validate.h"
#include "data/load_dataset.h"
#include "distributed/collectives.h"
#include "distributed/device.h"
#include "distributed/dist_context.h"
#include "distributed/heartbeat.h"
#include "distributed/interrupt.h"
#include "distributed/launcher.h"
#include "distributed/rank_env.h"
#include "metrics/atomic_file.h"
#include "metrics/run_files.h"
#include "metrics/system_info.h"
#include "models/resnet.h"
#include "metrics/tensorboard_log.h"
#include "train/state_dict_file.h"
#include "train/checkpoint.h"
#include "train/elastic.h"
#include "train/run_dir.h"
#include "train/stage_checks.h"
#include "train/summary.h"
#include "train/trainer.h"

namespace parallax {
namespace fs = std::filesystem;

namespace {

// The launcher's world, with --master-addr/--master-port where they apply (Open MPI, Slurm).
std::optional<RankEnv> launcher_env(const Config& cfg) {
  return rank_env_from(::getenv, {cfg.master_addr == Config{}.master_addr ? "" : cfg.master_addr,
                                  cfg.master_port});
}

// Every rank learns whether rank 0 finds the run finished (summary.json says so, for the epochs
// the checkpoint holds): all then return, or all complete the run's files (a collective).
bool agree_already_finished(const DistContext& ctx, const std::string& run_dir) {
  bool finished = false;
  if (ctx.is_root()) {
    try {
      std::ifstream in(run_dir + "/summary.json");
      const auto s = nlohmann::json::parse(in);
      finished = s.value("status", "") == "finished";
    } catch (const std::exception&) {
      finished = false;  // missing or torn: write it again
    }
  }
  if (ctx.world == 1) return finished;
  const std::string key = "parallax/already_finished";
  if (ctx.is_root()) ctx.store->set(key, std::vector<uint8_t>{finished ? uint8_t{1} : uint8_t{0}});
  const bool agreed = ctx.store->get(key) == std::vector<uint8_t>{1};
  // Rank 0 may host the store: it must not exit before every rank has read the verdict.
  ctx.world_pg->barrier()->wait();
  return agreed;
}

}  // namespace

// Ranks of one pipeline share their batch: the global batch is split over the data-parallel
// replicas and each replica's share over --accumulate micro-batches.
static void check_batch_split(const Config& cfg, int dp) {
  const int64_t splits = static_cast<int64_t>(dp) * cfg.accumulate;
  if (cfg.batch_size % splits == 0) return;
  throw UserError("--batch-size " + std::to_string(cfg.batch_size) + ": global, so it must " +
                  "divide by the " + std::to_string(dp) + " data-parallel ranks" +
                  (cfg.accumulate > 1 ? " x --accumulate " + std::to_string(cfg.accumulate)
                                      : std::string()) +
                  " (" + std::to_string(splits) + "); give a multiple of " +
                  std::to_string(splits));
}

Config checked_train_config(const Config& given) {
  validate(given);
  Config cfg = given;
  // Hybrid knows its world from --dp x --pp: --nproc may be left out on one node.
  if (cfg.strategy == "hybrid" && cfg.nproc == 1 && cfg.nnodes == 1) cfg.nproc = cfg.dp * cfg.pp;
  const auto env = launcher_env(cfg);
  const Topology topo = topology_of(cfg, env ? env->world : cfg.nproc * cfg.nnodes);
  check_stages(cfg, topo);
  if (env && env->elastic() && cfg.out.empty() && cfg.resume.empty())
    throw UserError("--out: under torchrun --max-restarts " + std::to_string(env->max_restarts) +
                    " a restarted attempt resumes the run folder's latest checkpoint, so every " +
                    "attempt must name the same one; give --out DIR");
  // What can be checked before any rank starts is checked here, once, in one line.
  constexpr int kRanksPerCore = 4;
  if (!env && cfg.nproc > kRanksPerCore * cpu_cores() && !cfg.oversubscribe)
    throw UserError("--nproc " + std::to_string(cfg.nproc) + ": " + std::to_string(cfg.nproc) +
                    " ranks on " + std::to_string(cpu_cores()) + " cores (more than " +
                    std::to_string(kRanksPerCore) + " per core) would mostly wait for each " +
                    "other; start fewer, or add --oversubscribe");
  check_batch_split(cfg, topo.dp);
  return cfg;
}

int train_main(const Config& given, int argc, char** argv) {
  const Config cfg = checked_train_config(given);
  const auto env = launcher_env(cfg);
  const int asked = cfg.nproc * cfg.nnodes;
  if (env && asked != 1 && asked != env->world)
    throw UserError("--nproc " + std::to_string(cfg.nproc) + " x --nnodes " +
                    std::to_string(cfg.nnodes) + " = " + std::to_string(asked) + " ranks, but the " +
                    env->source + " environment has a world of " + std::to_string(env->world) +
                    "; give matching values, or leave --nproc and --nnodes out under a launcher");
  if (env || asked == 1) {
    start_heartbeat_from_env();  // the launcher's way to tell a silent rank from a waiting one
    install_interrupt_handlers();
    run_training(cfg);
    return 0;
  }
  // The data's size, where it is known without reading it, before any rank starts (a suite
  // checks runs without this: a run that fails it is recorded as failed and the suite goes on).
  if (cfg.dataset == "synthetic" && cfg.batch_size > cfg.synthetic_train)
    throw UserError("--batch-size " + std::to_string(cfg.batch_size) + ": larger than the " +
                    std::to_string(cfg.synthetic_train) + " training images (--synthetic-train); " +
                    "give a smaller one");
  if (cfg.device != "cpu") {
    // One GPU per local rank (or --share-gpu), checked before any rank starts.
    const int gpus = cuda_devices();
    if (gpus == 0)
      throw UserError("--device " + cfg.device + ": no CUDA device visible to this build of " +
                      "LibTorch (" + torch_version() + (cuda_compiled() ? "" : ", CPU-only") +
                      "); use --device cpu");
    gpu_for_rank(cfg.device, 0, cfg.nproc, gpus, cfg.share_gpu);
  }
  LaunchSpec spec;
  spec.argv.push_back(std::filesystem::read_symlink("/proc/self/exe").string());
  for (int i = 1; i < argc; ++i) spec.argv.push_back(argv[i]);
  spec.nproc = cfg.nproc;
  spec.nnodes = cfg.nnodes;
  spec.node_rank = cfg.node_rank;
  spec.master_addr = cfg.master_addr;
  spec.master_port = cfg.master_port;
  spec.threads_per_rank = cfg.threads > 0 ? cfg.threads : std::max(1, cpu_cores() / cfg.nproc);
  spec.comm_timeout_s = cfg.comm_timeout;
  return launch_ranks(spec);
}

namespace {

// Every rank's memory figures, gathered on every rank (a collective).
void gather_rank_memory(const DistContext& ctx, const Strategy& strategy, RunFacts& facts) {
  const DeviceMemory gpu = device_memory(ctx.device);
  const MemoryStats mine = strategy.memory();
  const MeasuredMemory measured = strategy.measured_memory();
  const auto row = torch::tensor({mine.param_bytes, mine.grad_bytes, mine.optimizer_state_bytes,
                                  peak_rss_bytes(), gpu.allocated, gpu.reserved,
                                  gpu.peak_allocated, measured.parameters, measured.gradients,
                                  measured.optimizer_state, measured.activations, measured.other,
                                  measured.peak},
                                 torch::kLong);
  const auto rows = all_gather_rows(ctx.world_pg, ctx.world, row, ctx.device);
  facts.rank_memory.clear();
  facts.rank_peak_rss.clear();
  facts.rank_device_memory.clear();
  facts.rank_measured_memory.clear();
  for (const auto& r : rows) {
    const auto host = r.cpu();
    const int64_t* v = host.data_ptr<int64_t>();
    facts.rank_memory.push_back({v[0], v[1], v[2]});
    facts.rank_peak_rss.push_back(v[3]);
    facts.rank_device_memory.push_back({v[4], v[5], v[6]});
    facts.rank_measured_memory.push_back({v[7], v[8], v[9], v[10], v[11], v[12]});
  }
}

}  // namespace

std::string run_training(const Config& cfg, bool verbose,
                         const std::function<void(const TrainState&)>& after_epoch) {
  validate(cfg);
  const auto env = launcher_env(cfg);
  const int local_world = env ? env->local_world : 1;
  const int threads =
      configure_threads(cfg.threads > 0 ? cfg.threads : std::max(1, cpu_cores() / local_world));
  const DistContext ctx = make_dist_context(cfg, env);
  const torch::Device device = ctx.device;
  verbose = verbose && ctx.is_root();
  check_batch_split(cfg, ctx.dp_size);  // again here for worlds that a launcher of others made
  std::string run_dir = choose_run_dir(cfg);
  // A restarted attempt of an elastic run (torchrun --max-restarts) resumes its folder's latest
  // checkpoint by itself, if an earlier attempt of this job began that folder (with no job store
  // to say so: if a checkpoint is there). Rank 0 decides for every rank (below).
  const bool restarted = env && env->restart_count > 0;
  std::unique_ptr<ElasticProgress> elastic;
  if (ctx.is_root() && ctx.job_store) elastic = std::make_unique<ElasticProgress>(*ctx.job_store);
  bool resume_restart = false;
  if (ctx.is_root()) {
    resume_restart = restarted && (!elastic || elastic->began()) &&
                     fs::exists(checkpoint_path(run_dir));
    prepare_run_dir(run_dir, !cfg.resume.empty() || resume_restart);
    if (elastic) elastic->mark_began();
  }
  if (ctx.world > 1) {
    const std::vector<uint8_t> flag{resume_restart ? uint8_t{1} : uint8_t{0}};
    if (ctx.is_root()) ctx.store->set("parallax/resume_restart", flag);
    resume_restart = ctx.store->get("parallax/resume_restart") == std::vector<uint8_t>{1};
    // Rank 0's name for the folder (a time stamp may differ by a second between ranks).
    // A vector<uint8_t> by name: a braced pair of iterators is ambiguous in LibTorch 2.x's
    // Store::set overloads (vector<uint8_t> and string_view).
    const std::vector<uint8_t> bytes(run_dir.begin(), run_dir.end());
    if (ctx.is_root()) ctx.store->set("parallax/run_dir", bytes);
    const auto name = ctx.store->get("parallax/run_dir");
    run_dir.assign(name.begin(), name.end());
  }
  const bool resuming = !cfg.resume.empty() || resume_restart;
  const std::string resume_from = resume_restart ? run_dir : cfg.resume;
  torch::manual_seed(cfg.seed);

  const Dataset data = [&] {
    try {
      return load_dataset(cfg);
    } catch (...) {
      // A data check that fails leaves no empty run folder behind (remove() keeps a full one).
      std::error_code ec;
      if (ctx.is_root() && !resuming) fs::remove(run_dir, ec);
      throw;
    }
  }();
  if (cfg.batch_size > data.train.size())
    throw UserError("--batch-size " + std::to_string(cfg.batch_size) + ": larger than the " +
                    std::to_string(data.train.size()) + " training images; give a smaller one");
  const int64_t before_model = allocated_bytes(device);  // the allocator's, before the model
  auto model = make_resnet({cfg.model, data.channels(), data.classes, cfg.norm == "batch"});
  const torch::ScalarType dtype = cfg.dtype == "fp64" ? torch::kDouble : torch::kFloat;
  model->set_floating_dtype(dtype);
  if (cfg.channels_last) model->set_channels_last();
  // Every rank loads the same file, before a strategy shards or cuts the model.
  if (!cfg.init_from.empty() && !resuming) load_state_dict_file(cfg.init_from, *model);
  const int64_t model_parameters = model->parameter_count();  // before stages free their others
  auto strategy = make_strategy(cfg, ctx, model,
                                {data.channels(), data.train.images.size(2), data.train.images.size(3)});
  strategy->memory_probe().model_built(before_model,
                                       storage_bytes(strategy->resident_state()));

  const Normalization norm = channel_stats(data.train.images);
  const int64_t local_batch = cfg.batch_size / ctx.dp_size;
  LoaderOptions train_opts{local_batch,  true,        cfg.augment, cfg.seed,
                           ctx.dp_rank, ctx.dp_size, dtype,       cfg.channels_last};
  LoaderOptions test_opts{cfg.eval_batch_size, false,       false, cfg.seed,
                          ctx.dp_rank,         ctx.dp_size, dtype, cfg.channels_last};
  Loader train(data.train, norm, train_opts, device);
  Loader test(data.test, norm, test_opts, device);

  TrainState state;
  if (resuming) {
    state = load_checkpoint(resume_from, *strategy, device);
    // Resuming a finished run changes nothing: not its summary, rows or database record.
    if (Trainer(cfg, *strategy, train, test, false).finished(state) &&
        agree_already_finished(ctx, run_dir)) {
      // ... unless a kill came between its summary and its database row: add only that row.
      if (ctx.is_root()) record_run_if_missing(run_dir, verbose);
      if (verbose)
        std::fprintf(stderr,
                     "parallax: %s already finished (%zu epochs, %lld steps); nothing to do\n",
                     run_dir.c_str(), state.epochs.size(), static_cast<long long>(state.step));
      return run_dir;
    }
    // The rows are the checkpoint's: a kill between the checkpoint and the tables (or after
    // rows of an epoch the checkpoint does not hold) leaves them one epoch apart otherwise.
    if (ctx.is_root()) write_run_tables(run_dir, state);
  }
  if (restarted && ctx.is_root()) {
    state.restarts = env->restart_count;
    if (elastic) state.steps_redone = elastic->steps_redone();
    if (verbose)
      std::fprintf(stderr, "parallax: restart %d of %d: resumed at step %lld (%lld steps redone)\n",
                   env->restart_count, env->max_restarts, static_cast<long long>(state.step),
                   static_cast<long long>(state.steps_redone));
  }
  if (ctx.is_root()) save_run_config(run_dir, cfg);

  RunFacts facts;
  facts.started_at = static_cast<int64_t>(std::time(nullptr));
  facts.world_size = ctx.world;
  facts.threads = threads;
  facts.device = device.str();
  facts.dataset_source = data.source;
  facts.train_images = data.train.size();
  facts.test_images = data.test.size();
  facts.model_parameters = model_parameters;
  facts.launcher = !env ? "none" : std::getenv(kHeartbeatEnv) ? "parallax" : env->source;
  std::unique_ptr<TensorboardLog> tensorboard;
  if (ctx.is_root() && !cfg.tensorboard.empty()) {
    std::string dir = cfg.tensorboard;
    if (const size_t at = dir.find("{run_dir}"); at != std::string::npos)
      dir.replace(at, 9, run_dir);
    tensorboard = std::make_unique<TensorboardLog>(dir, cfg.log_every);
  }
  if (verbose)
    std::fprintf(stderr,
                 "parallax: %s (%.2fM parameters) on %s [%lld train / %lld test], %s, "
                 "%s, %d threads, %s malloc, %s BLAS -> %s\n",
                 cfg.model.c_str(), facts.model_parameters / 1e6, data.source.c_str(),
                 static_cast<long long>(facts.train_images),
                 static_cast<long long>(facts.test_images), cfg.strategy.c_str(),
                 facts.device.c_str(), threads, allocator_name().c_str(), blas_name().c_str(),
                 run_dir.c_str());

  auto write_summary = [&](const TrainState& s) {
    write_file_atomic(run_dir + "/summary.json", make_summary(cfg, s, facts).dump(2) + "\n");
  };
  auto write_outputs = [&](const TrainState& s) {
    // Collective parts first, on every rank: the checkpoint (ZeRO gathers its shards) and the
    // per-rank memory figures.
    if (cfg.checkpoint) save_checkpoint(run_dir, *strategy, s, ctx.is_root());
    gather_rank_memory(ctx, *strategy, facts);
    facts.details = strategy->details();  // a collective for some strategies
    if (!ctx.is_root()) {
      if (after_epoch) after_epoch(s);
      return;
    }
    write_run_tables(run_dir, s);
    write_summary(s);
    if (tensorboard && !s.epochs.empty())
      tensorboard->epoch(s.epochs.back(), s.step, facts.rank_measured_memory, facts.rank_peak_rss);
    if (after_epoch) after_epoch(s);
  };
  // After each step, on every rank: the elastic run's progress mark, TensorBoard's scalars, and
  // the checkpoint every --checkpoint-every steps (a collective; the epoch's end writes its own).
  auto after_step = [&](const TrainState& s) {
    kill_if_fault_injected(ctx.rank, env ? &*env : nullptr, s.step);
    if (elastic) {
      elastic->step_finished(s.step);
      state.steps_redone = elastic->steps_redone();  // s is state: the next checkpoint holds it
    }
    if (tensorboard) tensorboard->step(s.steps.back());
    const bool epoch_ends = s.in_epoch.steps == train.batches() || (cfg.steps > 0 && s.step >= cfg.steps);
    if (cfg.checkpoint_every > 0 && s.step % cfg.checkpoint_every == 0 && !epoch_ends)
      save_checkpoint(run_dir, *strategy, s, ctx.is_root());
  };
  // A run that stops early (divergence, an interrupt) keeps its last good checkpoint and says why
  // in summary.json and the database; a collective on every rank, which all stop at one step.
  auto record_stop = [&](const std::string& status, const std::string& why) {
    gather_rank_memory(ctx, *strategy, facts);
    if (!ctx.is_root()) return;
    facts.status = status;
    facts.stop_reason = why;
    write_run_tables(run_dir, state);
    write_summary(state);
    record_run(run_dir, verbose);
  };
  Trainer trainer(cfg, *strategy, train, test, verbose, write_outputs, after_step);
  const size_t epochs_before = state.epochs.size();
  try {
    trainer.run(state);
  } catch (const Diverged& d) {
    record_stop("diverged", d.what());
    throw;
  } catch (const Interrupted& i) {
    record_stop("interrupted", i.what());
    throw;
  }
  // Resumed with nothing left to train, after a kill between the last checkpoint and the run's
  // files: complete them from the checkpoint's state.
  if (state.epochs.size() == epochs_before) write_outputs(state);
  if (ctx.is_root()) {
    facts.status = "finished";
    write_summary(state);
  }
  if (cfg.trace) {
    std::error_code ec;
    fs::create_directories(run_dir + "/trace", ec);
    strategy->write_trace(run_dir + "/trace/rank" + std::to_string(ctx.rank) + ".json");
  }
  if (ctx.is_root()) record_run(run_dir, verbose);
  if (verbose) std::fprintf(stderr, "parallax: wrote %s/summary.json\n", run_dir.c_str());
  return run_dir;
}

}  // namespace parallax
