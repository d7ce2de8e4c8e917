// Bucket layout: greedy packing in reverse model order, as PyTorch's DDP reducer does.
#include "parallel/bucket_layout.h"

#include <algorithm>

namespace parallax {

Shard shard_of(int64_t numel, int rank, int world) {
  Shard s;
  s.chunk = world > 0 ? (numel + world - 1) / world : 0;
  s.offset = std::min<int64_t>(static_cast<int64_t>(rank) * s.chunk, numel);
  s.numel = std::max<int64_t>(0, std::min(s.chunk, numel - s.offset));
  return s;
}

BucketLayout plan_buckets(const std::vector<int64_t>& numels, int64_t element_bytes,
                          double first_bytes, double bytes, int pad_to) {
  BucketLayout layout;
  layout.bucket_of.resize(numels.size());
  layout.offset_of.resize(numels.size());
  double cap = first_bytes, filled = 0;
  for (size_t k = numels.size(); k-- > 0;) {
    const double size = static_cast<double>(numels[k] * element_bytes);
    if (layout.buckets.empty() || (!layout.buckets.back().params.empty() && filled + size > cap)) {
      if (!layout.buckets.empty()) cap = bytes;
      layout.buckets.emplace_back();
      filled = 0;
    }
    BucketPlan& b = layout.buckets.back();
    layout.bucket_of[k] = layout.buckets.size() - 1;
    layout.offset_of[k] = b.numel;
    b.params.push_back(k);
    b.offsets.push_back(b.numel);
    b.numel += numels[k];
    filled += size;
  }
  const int64_t pad = std::max(1, pad_to);
  for (auto& b : layout.buckets) b.padded = (b.numel + pad - 1) / pad * pad;
  return layout;
}

}  // namespace parallax
