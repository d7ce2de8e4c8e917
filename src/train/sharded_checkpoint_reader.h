// A complete sharded checkpoint read back (train/sharded_checkpoint.h): its metadata, every rank's
// index, and a rank's pieces filled from them. A piece stored as it is wanted, or overlapping it
// as a run of elements in one order or as slices along one dimension, is read straight into
// place; otherwise its tensor is put together from the stored pieces, one tensor at a time, and
// cut as this rank's layout wants.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "parallel/state_pieces.h"

namespace parallax {

class ShardedCheckpointReader {
 public:
  // Reads RUN_DIR/checkpoint.json and every rank's index; UserError where one is missing or
  // damaged.
  explicit ShardedCheckpointReader(const std::string& run_dir);
  ~ShardedCheckpointReader();

  const nlohmann::json& meta() const;
  // The optimizer state it holds per parameter (its names empty where none).
  OptimizerStateSpec optimizer() const;
  // The whole sizes of the tensor stored under `key`; empty if absent.
  std::vector<int64_t> whole_sizes(const std::string& key) const;
  // Fills `targets` in place; UserError naming the key where one is absent or incomplete.
  void fill(std::vector<StatePiece>& targets);
  // The most bytes it held at once only to read (staging, a tensor put together), each block as
  // the allocator sized it.
  int64_t most_held() const;

 private:
  class Files;
  std::unique_ptr<Files> files_;
  std::string shown_;
};

}  // namespace parallax
