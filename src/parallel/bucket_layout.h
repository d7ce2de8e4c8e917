// Bucket layout: which parameters share a flat gradient buffer, where each one sits in it, and
// which slice of it each rank owns (ZeRO). Pure functions of the parameters' sizes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace parallax {

// Rank's contiguous slice of a buffer of `numel` elements split over `world` ranks: every rank
// gets ceil(numel / world) slots (the buffer is padded to world x that), the last ones may hold
// fewer real elements, or none.
struct Shard {
  int64_t offset = 0;  // first element
  int64_t numel = 0;   // real elements in the slice (<= chunk)
  int64_t chunk = 0;   // slots per rank, padding included
};
Shard shard_of(int64_t numel, int rank, int world);

struct BucketPlan {
  std::vector<size_t> params;    // indices into the parameter list, in the bucket's order
  std::vector<int64_t> offsets;  // each parameter's first element in the flat buffer
  int64_t numel = 0;             // real elements
  int64_t padded = 0;            // buffer length: numel rounded up to a multiple of pad_to
};

struct BucketLayout {
  std::vector<BucketPlan> buckets;  // in the order they are filled and launched
  std::vector<size_t> bucket_of;    // parameter -> bucket
  std::vector<int64_t> offset_of;   // parameter -> first element in its bucket
};

// Parameters in model order, sizes in elements of element_bytes each. Buckets are filled in
// reverse model order (backward produces the last layers' gradients first): the first holds up to
// first_bytes, the others up to bytes; a parameter larger than a bucket gets one of its own.
// With tail_bytes > 0 the model's first parameters, whose gradients come last, go to a tapered
// tail of buckets holding up to ..., 4, 2, 1 x tail_bytes (the last launched is the smallest):
// the bucket launched last cannot overlap anything, so its all-reduce is the exposed remainder.
BucketLayout plan_buckets(const std::vector<int64_t>& numels, int64_t element_bytes,
                          double first_bytes, double bytes, int pad_to = 1,
                          double tail_bytes = 0);

// The parts of elements [begin, begin + length) of a bucket's buffer (ZeRO: a rank's chunk) that
// hold parameters `selected` marks (by index into the parameter list, of numels[k] elements
// each): [first, last) offsets from begin, in order, touching parts merged (AdamW's decoupled
// decay reaches the matrices in a shard and passes over its biases and norm weights).
std::vector<std::pair<int64_t, int64_t>> selected_parts(const BucketPlan& plan,
                                                        const std::vector<int64_t>& numels,
                                                        const std::vector<bool>& selected,
                                                        int64_t begin, int64_t length);

// One bucket per group of consecutive parameters (ZeRO-3: per block, the unit that is gathered
// and freed), in reverse model order, padded to a multiple of pad_to.
BucketLayout plan_buckets_by_group(const std::vector<int64_t>& numels,
                                   const std::vector<size_t>& group_of, int pad_to);

}  // namespace parallax
