// Sampler: Fisher-Yates over a counter-based generator, so an order depends only on seed and epoch.
#include "data/sampler.h"

#include <numeric>

#include "data/rng.h"

namespace parallax {

Sampler::Sampler(int64_t size, bool shuffle, uint64_t seed, int rank, int world, bool pad)
    : size_(size),
      shuffle_(shuffle),
      seed_(seed),
      rank_(rank),
      world_(world),
      pad_(pad),
      order_(size) {
  set_epoch(0);
}

void Sampler::set_epoch(int64_t epoch) {
  if (epoch == epoch_) return;
  epoch_ = epoch;
  std::iota(order_.begin(), order_.end(), 0);
  if (shuffle_) {
    for (int64_t i = size_ - 1; i > 0; --i) {
      const uint64_t r =
          mix_seed(seed_, 0x5A3, static_cast<uint64_t>(epoch), static_cast<uint64_t>(i));
      std::swap(order_[i], order_[static_cast<int64_t>(r % static_cast<uint64_t>(i + 1))]);
    }
  }
  const int64_t per_rank =
      pad_ ? (size_ + world_ - 1) / world_ : (size_ - rank_ + world_ - 1) / world_;
  indices_.resize(per_rank);
  for (int64_t k = 0; k < per_rank; ++k) indices_[k] = order_[(k * world_ + rank_) % size_];
}

}  // namespace parallax
