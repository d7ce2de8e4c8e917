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

namespace {

void add_param(BucketLayout& layout, size_t k, int64_t numel) {
  BucketPlan& b = layout.buckets.back();
  layout.bucket_of[k] = layout.buckets.size() - 1;
  layout.offset_of[k] = b.numel;
  b.params.push_back(k);
  b.offsets.push_back(b.numel);
  b.numel += numel;
}

// Where the tapered tail starts: tail[i] = first parameter of the i-th tail bucket counted from
// the model's start (caps tail_bytes, 2 x, 4 x ... below bytes). Empty without a taper.
std::vector<size_t> tail_starts(const std::vector<int64_t>& numels, int64_t element_bytes,
                                double bytes, double tail_bytes) {
  std::vector<size_t> starts;
  if (tail_bytes <= 0) return starts;
  size_t k = 0;
  for (double cap = tail_bytes; cap < bytes && k < numels.size(); cap *= 2) {
    starts.push_back(k);
    double filled = 0;
    do filled += static_cast<double>(numels[k++] * element_bytes);
    while (k < numels.size() && filled + numels[k] * element_bytes <= cap);
  }
  starts.push_back(k);  // end of the tail
  return starts;
}

}  // namespace

BucketLayout plan_buckets(const std::vector<int64_t>& numels, int64_t element_bytes,
                          double first_bytes, double bytes, int pad_to, double tail_bytes) {
  BucketLayout layout;
  layout.bucket_of.resize(numels.size());
  layout.offset_of.resize(numels.size());
  const std::vector<size_t> tail = tail_starts(numels, element_bytes, bytes, tail_bytes);
  const size_t body_begin = tail.empty() ? 0 : tail.back();
  double cap = first_bytes, filled = 0;
  for (size_t k = numels.size(); k-- > body_begin;) {
    const double size = static_cast<double>(numels[k] * element_bytes);
    if (layout.buckets.empty() || (!layout.buckets.back().params.empty() && filled + size > cap)) {
      if (!layout.buckets.empty()) cap = bytes;
      layout.buckets.emplace_back();
      filled = 0;
    }
    add_param(layout, k, numels[k]);
    filled += size;
  }
  // The tail, largest bucket first; within a bucket still in reverse model order.
  for (size_t i = tail.size(); i-- > 1;) {
    layout.buckets.emplace_back();
    for (size_t k = tail[i]; k-- > tail[i - 1];) add_param(layout, k, numels[k]);
  }
  const int64_t pad = std::max(1, pad_to);
  for (auto& b : layout.buckets) b.padded = (b.numel + pad - 1) / pad * pad;
  return layout;
}

BucketLayout plan_buckets_by_group(const std::vector<int64_t>& numels,
                                   const std::vector<size_t>& group_of, int pad_to) {
  BucketLayout layout;
  layout.bucket_of.resize(numels.size());
  layout.offset_of.resize(numels.size());
  for (size_t k = numels.size(); k-- > 0;) {
    if (layout.buckets.empty() || group_of[k] != group_of[layout.buckets.back().params.back()])
      layout.buckets.emplace_back();
    add_param(layout, k, numels[k]);
  }
  const int64_t pad = std::max(1, pad_to);
  for (auto& b : layout.buckets) b.padded = (b.numel + pad - 1) / pad * pad;
  return layout;
}

std::vector<std::pair<int64_t, int64_t>> selected_parts(const BucketPlan& plan,
                                                        const std::vector<int64_t>& numels,
                                                        const std::vector<bool>& selected,
                                                        int64_t begin, int64_t length) {
  std::vector<std::pair<int64_t, int64_t>> parts;
  for (size_t i = 0; i < plan.params.size(); ++i) {
    const size_t k = plan.params[i];
    if (!selected[k]) continue;
    const int64_t first = std::max(plan.offsets[i], begin);
    const int64_t last = std::min(plan.offsets[i] + numels[k], begin + length);
    if (first < last) parts.emplace_back(first - begin, last - begin);
  }
  std::sort(parts.begin(), parts.end());
  std::vector<std::pair<int64_t, int64_t>> merged;
  for (const auto& p : parts) {
    if (!merged.empty() && merged.back().second == p.first)
      merged.back().second = p.second;
    else
      merged.push_back(p);
  }
  return merged;
}

}  // namespace parallax
