// Sharded checkpoints: each rank's pieces as raw bytes with a JSON index, then the metadata
// written last; a load through ShardedCheckpointReader.
#include "train/sharded_checkpoint.h"

#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "config/user_error.h"
#include "distributed/collectives.h"
#include "metrics/atomic_file.h"
#include "train/elastic.h"
#include "train/sharded_checkpoint_format.h"
#include "train/sharded_checkpoint_reader.h"

namespace parallax {
namespace fs = std::filesystem;

std::string sharded_checkpoint_path(const std::string& run_dir) {
  return run_dir + "/checkpoint.json";
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}


// The folder a save writes: step-N, or step-N.1 where the complete checkpoint is step-N itself (a
// resumed run saving its step again), which must stay intact until the new one is complete.
std::string folder_to_write(const std::string& run_dir, int64_t step) {
  std::string name = folder_name(step);
  std::ifstream in(sharded_checkpoint_path(run_dir));
  if (!in) return name;
  try {
    if (nlohmann::json::parse(in).value("folder", "") == name) name += ".1";
  } catch (const nlohmann::json::exception&) {  // not a complete checkpoint: nothing to keep
  }
  return name;
}

// Writes this rank's pieces and their index into `folder`; returns the optimizer state's names
// and step count (from every piece, written here or not).
void write_pieces(const std::string& folder, const std::vector<StatePiece>& pieces, int rank,
                  std::set<std::string>& states, int64_t& step) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw storage_error(folder, ec.value());
  nlohmann::json index = nlohmann::json::array();
  const std::string bin = rank_file(folder, rank, ".bin");
  write_with(bin, bin, [&](const Write& write) {
    int64_t offset = 0;
    for (const auto& p : pieces) {
      if (!p.state.empty()) {
        states.insert(p.state);
        step = p.step;
      }
      if (!p.writes) continue;
      const auto t = p.local.detach().to(torch::kCPU).contiguous();
      const auto bytes = static_cast<int64_t>(t.nbytes());
      write(t.data_ptr(), static_cast<size_t>(bytes));
      nlohmann::json e = {{"key", p.key},
                          {"whole", p.whole_sizes},
                          {"cut", cut_name(p.cut)},
                          {"dtype", dtype_name(t.scalar_type())},
                          {"offset", offset},
                          {"bytes", bytes}};
      if (p.cut == StatePiece::Cut::kAlongDim) e["dim"] = p.dim;
      if (p.cut != StatePiece::Cut::kWhole) {
        e["start"] = p.start;
        e["length"] = p.length;
      }
      if (p.channels_last) e["channels_last"] = true;
      index.push_back(std::move(e));
      offset += bytes;
    }
  });
  write_file_atomic(rank_file(folder, rank, ".json"),
                    nlohmann::json{{"rank", rank}, {"pieces", index}}.dump() + "\n");
}

}  // namespace

CheckpointIo save_sharded_checkpoint(const std::string& run_dir, Strategy& strategy,
                                     const TrainState& state, const DistContext& ctx) {
  const auto begin = std::chrono::steady_clock::now();
  // Every rank reads the same name: checkpoint.json changes only after the all-reduce below.
  const std::string name = folder_to_write(run_dir, state.step);
  std::set<std::string> states;
  int64_t step = -1;
  std::string failure;
  try {
    write_pieces(run_dir + "/" + name, strategy.state_pieces(nullptr), ctx.rank, states, step);
  } catch (const UserError& e) {  // a full disk: every rank stops, the last checkpoint kept
    failure = e.what();
  }
  CheckpointIo io;
  io.seconds = seconds_since(begin);
  kill_in_save_if_fault_injected(ctx.rank, state.step);
  // Every rank's pieces are on disk before the metadata names them, and a rank that could not
  // write its own stops them all with its line (the highest such rank, plus one).
  if (ctx.world > 1) {
    std::vector<torch::Tensor> failed{torch::full(
        {1}, failure.empty() ? 0.0 : ctx.rank + 1.0,
        torch::TensorOptions().dtype(torch::kDouble).device(ctx.device))};
    all_reduce_max(ctx.world_pg, failed, "checkpoint pieces written")->wait();
    const int rank = static_cast<int>(failed[0].item<double>()) - 1;
    if (failure.empty() && rank >= 0)
      throw UserError("rank " + std::to_string(rank) + " could not write its part of the " +
                      "checkpoint of step " + std::to_string(state.step) + " (its line says " +
                      "why); the last complete checkpoint is kept");
  }
  if (!failure.empty()) throw UserError(failure);
  if (!ctx.is_root()) return io;
  nlohmann::json meta = {{"format", kShardedCheckpointFormat},
                         {"version", 1},
                         {"folder", name},
                         {"ranks", ctx.world},
                         {"step", state.step},
                         {"trainer_state", nlohmann::json(state)},
                         {"extra", strategy.checkpoint_extra()}};
  meta["optimizer"] = states.empty() ? nlohmann::json()
                                     : nlohmann::json{{"states", states}, {"step", step}};
  write_file_atomic(sharded_checkpoint_path(run_dir), meta.dump(1) + "\n");
  // Now the earlier checkpoints (and a consolidated one, the format having changed) may go:
  // every folder but the one just named.
  std::error_code ec;
  std::vector<fs::path> older;
  for (const auto& entry : fs::directory_iterator(run_dir + "/checkpoint", ec))
    if (entry.path().filename() != fs::path(name).filename()) older.push_back(entry.path());
  for (const auto& path : older) fs::remove_all(path, ec);
  fs::remove(run_dir + "/checkpoint.pt", ec);
  return io;
}

TrainState load_sharded_checkpoint(const std::string& run_dir, Strategy& strategy,
                                   CheckpointIo* io) {
  const auto begin = std::chrono::steady_clock::now();
  ShardedCheckpointReader ck(run_dir);
  const auto spec = ck.optimizer();
  auto targets = strategy.state_pieces(&spec);
  ck.fill(targets);
  strategy.restore_checkpoint_extra(ck.meta().value("extra", nlohmann::json::object()));
  if (io) {
    io->seconds = seconds_since(begin);
    // What the rank keeps: the storages under its parameters, buffers and the optimizer state
    // the load filled, each counted once, as the allocator sized them.
    auto kept = strategy.resident_state();
    for (const auto& t : targets) kept.push_back(t.local);
    io->state_bytes = storage_bytes(kept);
    io->peak_bytes = io->state_bytes + ck.most_held();
  }
  try {
    return ck.meta().at("trainer_state").get<TrainState>();
  } catch (const nlohmann::json::exception& e) {
    throw UserError(sharded_checkpoint_path(run_dir) + ": a damaged trainer state (" + e.what() +
                    "); resume from an earlier copy");
  }
}

void load_sharded_model(const std::string& run_dir, ModelBlocks& model) {
  ShardedCheckpointReader checkpoint(run_dir);
  load_sharded_model(checkpoint, model);
}

void load_sharded_model(ShardedCheckpointReader& checkpoint, ModelBlocks& model) {
  std::vector<StatePiece> targets;
  for (const auto& p : model.named_parameters())
    add_kept_pieces(targets, p.value(), {whole_part(p.key(), p.value())}, false, nullptr, nullptr);
  for (const auto& b : model.named_buffers())
    add_kept_pieces(targets, b.value(), {whole_part(b.key(), b.value())}, false, nullptr, nullptr);
  checkpoint.fill(targets);
}

}  // namespace parallax
