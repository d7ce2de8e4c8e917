// Sampler: which sample indices a rank visits in an epoch, reshuffled from (seed, epoch).
#pragma once
#include <cstdint>
#include <vector>

namespace parallax {

class Sampler {
 public:
  // rank/world: this rank's disjoint, strided share of the epoch's order. pad: wrap around so
  // every rank gets the same count (training, as PyTorch's DistributedSampler); without it the
  // shares are uneven but cover each sample exactly once (evaluation: exact accuracy).
  Sampler(int64_t size, bool shuffle, uint64_t seed, int rank = 0, int world = 1, bool pad = true);

  // Reshuffles for this epoch; unlike the study we reproduce, every epoch has its own order.
  void set_epoch(int64_t epoch);
  const std::vector<int64_t>& indices() const { return indices_; }
  int64_t epoch() const { return epoch_; }

 private:
  int64_t size_;
  bool shuffle_;
  uint64_t seed_;
  int rank_, world_;
  bool pad_;
  int64_t epoch_ = -1;
  std::vector<int64_t> order_, indices_;
};

}  // namespace parallax
