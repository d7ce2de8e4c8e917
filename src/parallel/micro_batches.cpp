// micro_batch_sizes(): the batch's rows dealt out to micro-batches.
#include "parallel/micro_batches.h"

#include <algorithm>
#include <string>

#include "config/user_error.h"

namespace parallax {

std::vector<int64_t> micro_batch_sizes(int64_t batch, int64_t micro, int64_t split_size,
                                       int64_t fallback) {
  const std::string per = "the " + std::to_string(batch) +
                          " images a pipeline gets per step (--batch-size / data-parallel "
                          "replicas); give at most " + std::to_string(batch);
  std::vector<int64_t> sizes;
  if (split_size > 0) {
    if (split_size > batch) throw UserError("--split-size " + std::to_string(split_size) +
                                            ": larger than " + per);
    for (int64_t at = 0; at < batch; at += split_size)
      sizes.push_back(std::min(split_size, batch - at));
    return sizes;
  }
  if (micro > batch)
    throw UserError("--micro-batches " + std::to_string(micro) + ": more micro-batches than " +
                    per);
  if (micro <= 0) micro = std::max<int64_t>(1, std::min(fallback, batch));
  for (int64_t m = 0; m < micro; ++m) sizes.push_back(batch / micro + (m < batch % micro ? 1 : 0));
  return sizes;
}

}  // namespace parallax
