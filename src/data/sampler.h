// Sampler: which sample indices a rank visits in an epoch, reshuffled from (seed, epoch).
#pragma once
#include <cstdint>
#include <vector>

namespace parallax {

class Sampler {
 public:
  // rank/world: this rank's disjoint, strided share of the epoch's order (padded by wrapping so
  // every rank gets the same count, as PyTorch's DistributedSampler does).
  Sampler(int64_t size, bool shuffle, uint64_t seed, int rank = 0, int world = 1);

  // Reshuffles for this epoch; unlike the study we reproduce, every epoch has its own order.
  void set_epoch(int64_t epoch);
  const std::vector<int64_t>& indices() const { return indices_; }
  int64_t epoch() const { return epoch_; }

 private:
  int64_t size_;
  bool shuffle_;
  uint64_t seed_;
  int rank_, world_;
  int64_t epoch_ = -1;
  std::vector<int64_t> order_, indices_;
};

}  // namespace parallax
