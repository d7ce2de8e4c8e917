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
#include "distributed/cpu_cores.h"
#include "distributed/device.h"
#include "distributed/dist_context.h"
#include "distributed/flight_recorder.h"
#include "distributed/heartbeat.h"
#include "distributed/interrupt.h"
#include "distributed/launcher.h"
#include "distributed/rank_env.h"
#include "metrics/peak_flops.h"
#include "metrics/run_files.h"
#include "metrics/system_info.h"
#include "models/make_model.h"
#include "models/model_flops.h"
#include "parallel/mixed_precision.h"
#include "train/checkpoint.h"
#include "train/elastic.h"
#include "train/planted_delay.h"
#include "train/run_dir.h"
#include "train/run_outputs.h"
#include "train/run_stop.h"
#include "train/stage_checks.h"
#include "train/tensor_parallel_checks.h"
#include "train/state_dict_file.h"
#include "train/summary.h"
#include "train/trainer.h"

namespace parallax {
namespace fs = std::filesystem;

namespace {

// The launcher's world, with --master-addr/--master-port where they apply (Open MPI, Slurm).
std::optional<RankEnv> launcher_env(const Config& cfg) {
  return rank_env_from(
      ::getenv, {cfg.master_addr == Config{}.master_addr ? "" : cfg.master_addr, cfg.master_port});
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
  barrier(ctx.world_pg, "verdict read");
  return agreed;
}

}  // namespace

// Ranks of one pipeline share their batch: the global batch is split over the data-parallel
// replicas and each replica's share over --accumulate micro-batches.
static void check_batch_split(const Config& cfg, int dp) {
  const int64_t splits = static_cast<int64_t>(dp) * cfg.accumulate;
  if (cfg.batch_size % splits == 0) return;
  throw UserError(
      "--batch-size " + std::to_string(cfg.batch_size) + ": global, so it must " +
      "divide by the " + std::to_string(dp) + " data-parallel ranks" +
      (cfg.accumulate > 1 ? " x --accumulate " + std::to_string(cfg.accumulate) : std::string()) +
      " (" + std::to_string(splits) + "); give a multiple of " + std::to_string(splits));
}

Config checked_train_config(const Config& given) {
  validate(given);
  Config cfg = given;
  // Hybrid knows its world from --dp x --pp: --nproc may be left out on one node.
  if (cfg.strategy == "hybrid" && cfg.nproc == 1 && cfg.nnodes == 1) cfg.nproc = cfg.dp * cfg.pp;
  // And tensor from --tp.
  if (cfg.strategy == "tensor" && cfg.tp > 0 && cfg.nproc == 1 && cfg.nnodes == 1) cfg.nproc = cfg.tp;
  const auto env = launcher_env(cfg);
  const Topology topo = topology_of(cfg, env ? env->world : cfg.nproc * cfg.nnodes);
  check_stages(cfg, topo);
  check_tensor_parallel(cfg, topo);
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
                    std::to_string(cfg.nnodes) + " = " + std::to_string(asked) +
                    " ranks, but the " + env->source + " environment has a world of " +
                    std::to_string(env->world) +
                    "; give matching values, or leave --nproc and --nnodes out under a launcher");
  if (env || asked == 1) {
    start_heartbeat_from_env();  // the launcher's way to tell a silent rank from a waiting one
    install_interrupt_handlers();
    try {
      run_training(cfg);
    } catch (const std::exception& e) {
      // A rank that fails (a collective's timeout among the causes) leaves its flight record
      // for the launcher to compare with the others' (none where the run folder was not yet
      // known, or the run has one rank). Interrupts and divergence stop every rank together.
      if (!dynamic_cast<const Interrupted*>(&e) && !dynamic_cast<const Diverged*>(&e)) {
        const std::string what = e.what();
        dump_flight_record("this rank failed: " + what.substr(0, what.find('\n')));
      }
      throw;
    }
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

// One intra-op pool per rank: --threads, else this node's cores shared among its ranks.
int configure_rank_threads(const Config& cfg, const std::optional<RankEnv>& env) {
  const int local_world = env ? env->local_world : 1;
  return configure_threads(cfg.threads > 0 ? cfg.threads : std::max(1, cpu_cores() / local_world));
}

// The run folder every rank writes into, and whether this attempt resumes it.
struct RunFolder {
  std::string dir;
  bool resume_restart = false;  // an elastic restart resumes the folder's latest checkpoint
  std::unique_ptr<ElasticProgress> elastic;  // rank 0's, where torchrun's agent keeps a job store
};

// Every rank takes rank 0's verdict on resuming, and rank 0's name for the folder (a time stamp
// may differ by a second between ranks).
void share_run_folder(const DistContext& ctx, const Config& cfg, RunFolder& folder) {
  const std::vector<uint8_t> flag{folder.resume_restart ? uint8_t{1} : uint8_t{0}};
  if (ctx.is_root()) ctx.store->set("parallax/resume_restart", flag);
  folder.resume_restart = ctx.store->get("parallax/resume_restart") == std::vector<uint8_t>{1};
  folder.dir = shared_run_dir(ctx, cfg, folder.dir);
}

// Chooses and prepares the run folder (rank 0), then tells every rank.
RunFolder open_run_folder(const Config& cfg, const DistContext& ctx, bool restarted) {
  RunFolder folder;
  folder.dir = choose_run_dir(cfg);
  // A restarted attempt of an elastic run (torchrun --max-restarts) resumes its folder's latest
  // checkpoint by itself, if an earlier attempt of this job began that folder (with no job store
  // to say so: if a checkpoint is there). Rank 0 decides for every rank.
  if (ctx.is_root() && ctx.job_store)
    folder.elastic = std::make_unique<ElasticProgress>(*ctx.job_store);
  if (ctx.is_root()) {
    folder.resume_restart = restarted && (!folder.elastic || folder.elastic->began()) &&
                            has_checkpoint(folder.dir);
    prepare_run_dir(folder.dir, !cfg.resume.empty() || folder.resume_restart);
    if (folder.elastic) folder.elastic->mark_began();
  }
  if (ctx.world > 1) share_run_folder(ctx, cfg, folder);
  return folder;
}

// The dataset, which must hold at least one global batch of training images.
Dataset load_run_dataset(const Config& cfg, const DistContext& ctx, const std::string& run_dir,
                         bool resuming) {
  Dataset data = [&] {
    try {
      return load_dataset(cfg, context_of(cfg.model, cfg.context));
    } catch (...) {
      // A data check that fails leaves no empty run folder behind (remove() keeps a full one).
      std::error_code ec;
      if (ctx.is_root() && !resuming) fs::remove(run_dir, ec);
      throw;
    }
  }();
  if (cfg.batch_size > data.train.size())
    throw UserError("--batch-size " + std::to_string(cfg.batch_size) + ": larger than the " +
                    std::to_string(data.train.size()) + " training " +
                    (data.is_text() ? "windows (--text-windows)" : "images") +
                    "; give a smaller one");
  return data;
}

// The model, kept for the whole run, and the strategy that spreads it over the ranks.
struct BuiltModel {
  std::shared_ptr<ModelBlocks> model;
  std::unique_ptr<Strategy> strategy;
  int64_t parameters = 0;  // counted before stages free their others
  double training_flops_per_sample = 0;  // counted on the whole model too
};

BuiltModel build_model_and_strategy(const Config& cfg, const DistContext& ctx, const Dataset& data,
                                    torch::ScalarType dtype, bool resuming) {
  BuiltModel built;
  const int64_t before_model = allocated_bytes(ctx.device);  // the allocator's, before the model
  built.model = make_model(model_spec(cfg, data.channels(), data.classes, data.height()));
  built.model->set_floating_dtype(dtype);
  if (cfg.channels_last) built.model->set_channels_last();
  // Every rank loads the same file, before a strategy shards or cuts the model.
  if (!cfg.init_from.empty() && !resuming) load_state_dict_file(cfg.init_from, *built.model);
  built.parameters = built.model->parameter_count();
  built.training_flops_per_sample = training_flops_per_sample(*built.model, data.sample_shape());
  built.strategy = make_strategy(cfg, ctx, built.model, data.sample_shape());
  built.strategy->memory_probe().model_built(before_model,
                                             storage_bytes(built.strategy->resident_state()));
  return built;
}

// A resumed run that had finished gets only its database row, where a kill came between its
// summary and that row.
void report_already_finished(const DistContext& ctx, const std::string& run_dir,
                             const TrainState& state, bool verbose) {
  if (ctx.is_root()) record_run_if_missing(run_dir, verbose);
  if (verbose)
    std::fprintf(stderr, "parallax: %s already finished (%zu epochs, %lld steps); nothing to do\n",
                 run_dir.c_str(), state.epochs.size(), static_cast<long long>(state.step));
}

// Rank 0 notes an elastic restart in the state its summary reports.
void note_restart(TrainState& state, const RankEnv& env, const ElasticProgress* elastic,
                  bool verbose) {
  state.restarts = env.restart_count;
  if (elastic) state.steps_redone = elastic->steps_redone();
  if (verbose)
    std::fprintf(stderr, "parallax: restart %d of %d: resumed at step %lld (%lld steps redone)\n",
                 env.restart_count, env.max_restarts, static_cast<long long>(state.step),
                 static_cast<long long>(state.steps_redone));
}

// What summary.json says of the run beyond its config and the trainer's records, as it starts.
RunFacts run_facts_of(const DistContext& ctx, int threads, const Dataset& data,
                      int64_t model_parameters, const std::optional<RankEnv>& env) {
  RunFacts facts;
  facts.started_at = static_cast<int64_t>(std::time(nullptr));
  facts.world_size = ctx.world;
  facts.threads = threads;
  facts.device = ctx.device.str();
  facts.dataset_source = data.source;
  facts.train_images = data.train.size();
  facts.test_images = data.test.size();
  facts.model_parameters = model_parameters;
  facts.language_model = data.is_text();
  facts.tokens_per_sample = data.is_text() ? data.train.context : 0;
  facts.vocabulary = data.is_text() ? data.classes : 0;
  facts.token_unit = data.token_unit();
  facts.launcher = !env ? "none" : std::getenv(kHeartbeatEnv) ? "parallax" : env->source;
  return facts;
}

// Rank 0's one line on what is about to train, on what, and where its files go.
void print_run_start(const Config& cfg, const RunFacts& facts, int threads,
                     const std::string& run_dir) {
  std::fprintf(stderr,
               "parallax: %s (%.2fM parameters) on %s [%lld train / %lld test], %s, "
               "%s, %d threads, %s malloc, %s BLAS -> %s\n",
               cfg.model.c_str(), facts.model_parameters / 1e6, facts.dataset_source.c_str(),
               static_cast<long long>(facts.train_images),
               static_cast<long long>(facts.test_images), cfg.strategy.c_str(),
               facts.device.c_str(), threads, allocator_name().c_str(), blas_name().c_str(),
               run_dir.c_str());
}

// Trains to the end and completes the run's files; a run that stops early records why on every
// rank (all stop at one step), then the exception goes on.
void train_to_end(Trainer& trainer, TrainState& state, RunOutputs& outputs) {
  const size_t epochs_before = state.epochs.size();
  try {
    trainer.run(state);
  } catch (const Diverged& d) {
    outputs.record_stop(state, "diverged", d.what());
    throw;
  } catch (const Interrupted& i) {
    outputs.record_stop(state, "interrupted", i.what());
    throw;
  }
  outputs.finish(state, state.epochs.size() == epochs_before);
}

}  // namespace

std::string run_training(const Config& cfg, bool verbose,
                         const std::function<void(const TrainState&)>& after_epoch) {
  validate(cfg);
  const auto env = launcher_env(cfg);
  const int threads = configure_rank_threads(cfg, env);
  const DistContext ctx = make_dist_context(cfg, env);
  const torch::Device device = ctx.device;
  verbose = verbose && ctx.is_root();
  check_batch_split(cfg, ctx.dp_size);  // again here for worlds that a launcher of others made
  const bool restarted = env && env->restart_count > 0;
  const RunFolder folder = open_run_folder(cfg, ctx, restarted);
  if (ctx.world > 1) announce_flight_folder(folder.dir + "/flight", ctx.rank, ctx.world);
  const std::string& run_dir = folder.dir;
  const bool resuming = !cfg.resume.empty() || folder.resume_restart;
  const std::string resume_from = folder.resume_restart ? run_dir : cfg.resume;
  torch::manual_seed(cfg.seed);

  const Dataset data = load_run_dataset(cfg, ctx, run_dir, resuming);
  const torch::ScalarType dtype = cfg.dtype == "fp64" ? torch::kDouble : torch::kFloat;
  // MFU's denominator, on every rank at once (as they will share the cores), before the model.
  const Precision precision = precision_for(cfg, device);
  const PeakFlops peak = measure_peak_flops(device, precision.autocast ? precision.compute : dtype);
  BuiltModel built = build_model_and_strategy(cfg, ctx, data, dtype, resuming);
  Strategy& strategy = *built.strategy;
  const Normalization norm = data.is_text() ? Normalization{} : channel_stats(data.train.images);
  const int64_t local_batch = cfg.batch_size / ctx.dp_size;
  LoaderOptions train_opts{local_batch, true,        cfg.augment, cfg.seed,
                           ctx.dp_rank, ctx.dp_size, dtype,       cfg.channels_last};
  LoaderOptions test_opts{cfg.eval_batch_size, false,       false, cfg.seed,
                          ctx.dp_rank,         ctx.dp_size, dtype, cfg.channels_last};
  Loader train(data.train, norm, train_opts, device);
  Loader test(data.test, norm, test_opts, device);

  TrainState state;
  CheckpointIo loaded;
  if (resuming) {
    state = load_checkpoint(resume_from, strategy, device, &loaded);
    // Resuming a finished run changes nothing: not its summary, rows or database record.
    if (Trainer(cfg, strategy, train, test, data.classes, false).finished(state) &&
        agree_already_finished(ctx, run_dir)) {
      report_already_finished(ctx, run_dir, state, verbose);
      return run_dir;
    }
    // The rows are the checkpoint's: a kill between the checkpoint and the tables (or after
    // rows of an epoch the checkpoint does not hold) leaves them one epoch apart otherwise.
    if (ctx.is_root()) write_run_tables(run_dir, state);
  }
  if (restarted && ctx.is_root()) note_restart(state, *env, folder.elastic.get(), verbose);
  if (ctx.is_root()) {
    save_run_config(run_dir, cfg);
    if (data.is_text()) save_vocabulary(run_dir, data);
  }

  RunFacts facts = run_facts_of(ctx, threads, data, built.parameters, env);
  facts.training_flops_per_sample = built.training_flops_per_sample;
  facts.peak_flops_per_rank = peak.flops_per_sec;
  facts.peak_flops_source = peak.source;
  facts.checkpoint_format = sharded_checkpoints(cfg, ctx.world) ? "sharded" : "consolidated";
  facts.load_io = loaded;
  RunOutputs outputs(cfg, ctx, run_dir, strategy, facts, verbose, after_epoch);
  if (verbose) print_run_start(cfg, facts, threads, run_dir);
  // After each step, on every rank: a test's injected fault, the elastic run's progress mark,
  // then TensorBoard's scalars and the checkpoint every --checkpoint-every steps.
  auto after_step = [&](const TrainState& s) {
    kill_if_fault_injected(ctx.rank, env ? &*env : nullptr, s.step);
    if (folder.elastic) {
      folder.elastic->step_finished(s.step);
      // s is state: the next checkpoint holds the count.
      state.steps_redone = folder.elastic->steps_redone();
    }
    outputs.step_done(s, train.batches());
  };
  Trainer trainer(cfg, strategy, train, test, data.classes, verbose,
                  [&](const TrainState& s) { outputs.epoch_done(s); }, after_step);
  trainer.delay_each_step(planted_step_delay_s(ctx.rank));
  defer_interrupts_to_step_end();
  train_to_end(trainer, state, outputs);
  return run_dir;
}

}  // namespace parallax
