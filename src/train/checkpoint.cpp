// Checkpoint I/O through LibTorch archives; the trainer state rides along as a JSON byte tensor.
#include "train/checkpoint.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config_json.h"
#include "config/options.h"
#include "config/user_error.h"
#include "metrics/atomic_file.h"
#include "metrics/heap.h"

namespace parallax {
namespace fs = std::filesystem;

std::string checkpoint_path(const std::string& run_dir) {
  return run_dir + "/checkpoint.pt";
}

bool has_checkpoint(const std::string& run_dir) {
  return fs::exists(checkpoint_path(run_dir)) || fs::exists(sharded_checkpoint_path(run_dir));
}

bool latest_checkpoint_is_sharded(const std::string& run_dir) {
  const std::string path = checkpoint_path(run_dir), sharded = sharded_checkpoint_path(run_dir);
  return fs::exists(sharded) &&
         (!fs::exists(path) || fs::last_write_time(sharded) >= fs::last_write_time(path));
}

bool sharded_checkpoints(const Config& cfg, int world) {
  if (cfg.checkpoint_format != "auto") return cfg.checkpoint_format == "sharded";
  return world > 1 && cfg.strategy != "single" && cfg.strategy != "ddp";
}

namespace {

void save_consolidated(const std::string& run_dir, Strategy& strategy, const TrainState& state,
                       bool write_file) {
  torch::serialize::OutputArchive archive;
  strategy.save(archive);
  // The archive refers to the model's tensors until it is written; then the strategy may free
  // what it gathered for it (a pipeline stage: the other stages' blocks).
  struct AfterWrite {
    Strategy& s;
    ~AfterWrite() { s.checkpoint_written(); }
  } after_write{strategy};
  if (!write_file) return;
  const std::string json = nlohmann::json(state).dump();
  auto bytes = torch::empty({static_cast<int64_t>(json.size())}, torch::kUInt8);
  std::memcpy(bytes.data_ptr(), json.data(), json.size());
  archive.write("trainer_state", bytes);
  const std::string path = checkpoint_path(run_dir);
  replace_file_atomic(path, [&](const std::string& temp) {
    write_with(temp, path, [&](const Write& write) {
      // Through a writer function, not save_to(path): LibTorch's file writer throws from its
      // destructor when the disk is full, which ends the process (std::terminate). Reporting
      // every byte as written lets the archive finish; write_with() then throws the real error.
      archive.save_to([&](const void* data, size_t n) -> size_t {
        write(data, n);
        return n;
      });
    });
  });
}

}  // namespace

CheckpointIo save_checkpoint(const std::string& run_dir, Strategy& strategy,
                             const TrainState& state, const Config& cfg, const DistContext& ctx) {
  if (sharded_checkpoints(cfg, ctx.world))
    return save_sharded_checkpoint(run_dir, strategy, state, ctx);
  const auto begin = std::chrono::steady_clock::now();
  save_consolidated(run_dir, strategy, state, ctx.is_root());
  CheckpointIo io;
  io.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  if (ctx.is_root()) {  // a sharded checkpoint from before a change of format is stale now
    std::error_code ec;
    fs::remove(sharded_checkpoint_path(run_dir), ec);
    fs::remove_all(run_dir + "/checkpoint", ec);
  }
  return io;
}

TrainState load_checkpoint(const std::string& run_dir, Strategy& strategy,
                           const c10::Device& device, CheckpointIo* io) {
  if (latest_checkpoint_is_sharded(run_dir))
    return load_sharded_checkpoint(run_dir, strategy, io);
  const std::string path = checkpoint_path(run_dir);
  const auto begin = std::chrono::steady_clock::now();
  if (!fs::exists(path)) {
    if (fs::exists(run_dir + "/config.json"))
      throw UserError("--resume " + run_dir + ": the run stopped before its first checkpoint " +
                      "(written at the end of each epoch), so there is nothing to resume; " +
                      "start it again with --out " + run_dir);
    throw UserError("--resume " + run_dir +
                    ": no checkpoint there; give a run directory "
                    "written with checkpoints on");
  }
  // The allocator's count (host, and the device's) where the load holds the most: the whole
  // archive read in, then the strategy's copies made from it.
  const auto held = [&device] {
    const int64_t host = allocated_bytes(torch::kCPU);
    const int64_t on_device = device.is_cpu() ? 0 : allocated_bytes(device);
    return host < 0 || on_device < 0 ? int64_t{-1} : host + on_device;
  };
  int64_t most = -1;
  TrainState state;
  try {
    {
      torch::serialize::InputArchive archive;
      archive.load_from(path, strategy.checkpoint_load_device(device));
      most = held();
      strategy.load(archive);
      most = std::max(most, held());
      torch::Tensor bytes;
      archive.read("trainer_state", bytes);
      bytes = bytes.cpu();
      const std::string json(static_cast<const char*>(bytes.data_ptr()), bytes.numel());
      state = nlohmann::json::parse(json).get<TrainState>();
    }
  } catch (const c10::Error& e) {
    throw UserError(path + ": unreadable checkpoint or one from another model/optimizer (" +
                    std::string(e.what_without_backtrace()).substr(0, 200) + ")");
  }
  if (io) {
    io->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    // What the rank keeps, as the allocator sized it; the peak adds what the load held beyond it
    // (the archive and the copies made from it), freed by now.
    auto kept = strategy.resident_state();
    for (const auto& p : strategy.state_pieces(nullptr)) kept.push_back(p.local);
    const int64_t end = held();
    if (most >= 0 && end >= 0) {
      io->state_bytes = storage_bytes(kept);
      io->peak_bytes = io->state_bytes + std::max<int64_t>(0, most - end);
    }
  }
  return state;
}

void save_run_config(const std::string& run_dir, const Config& cfg) {
  write_file_atomic(run_dir + "/config.json", nlohmann::json(cfg).dump(2) + "\n");
}

Config load_run_config(const std::string& run_dir) {
  const std::string path = run_dir + "/config.json";
  std::ifstream in(path);
  if (!in)
    throw UserError("--resume " + run_dir + ": no config.json there: the run stopped before it " +
                    "began, or this is not a run folder; start it again with --out " + run_dir);
  try {
    return nlohmann::json::parse(in).get<Config>();
  } catch (const nlohmann::json::exception& e) {
    throw UserError(path + ": not a parallax config (" + e.what() + ")");
  }
}

Config resumed_run_config(const CLI::App& train, const Config& given) {
  if (given.resume.empty()) return given;
  Config cfg = merge_resumed_config(train, given, load_run_config(given.resume));
  cfg.resume = given.resume;
  return cfg;
}

void save_vocabulary(const std::string& run_dir, const Dataset& data) {
  nlohmann::json j;
  j["dataset"] = data.name;
  j["size"] = data.classes;
  j["token"] = data.token_unit();
  if (!data.vocabulary.empty()) j["characters"] = data.vocabulary;
  write_file_atomic(run_dir + "/vocabulary.json", j.dump(1) + "\n");
}

}  // namespace parallax
