// How a pipeline cuts its batch into micro-batches: by count (--micro-batches) or by size
// (--split-size, the study's term). Pure; checked before any rank starts.
#pragma once
#include <cstdint>
#include <vector>

namespace parallax {

// Rows per micro-batch for a batch of `batch` rows. micro > 0: exactly `micro` micro-batches whose
// sizes differ by at most one (the larger first). split_size > 0: micro-batches of split_size rows,
// the last one smaller if the batch does not divide. Both 0: `fallback` micro-batches (capped at
// the batch). UserError naming the option when it asks for more than the batch holds.
std::vector<int64_t> micro_batch_sizes(int64_t batch, int64_t micro, int64_t split_size,
                                       int64_t fallback);

}  // namespace parallax
