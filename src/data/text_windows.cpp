// Text windows: counter-based starts, so the windows depend on (seed, epoch, index) alone.
#include "data/text_windows.h"

#include <algorithm>
#include <cstring>

#include "data/rng.h"

namespace parallax {

int64_t train_window_start(uint64_t seed, int64_t epoch, int64_t index, int64_t n,
                           int64_t context) {
  const uint64_t starts = static_cast<uint64_t>(n - context);  // [0, n - context - 1]
  return static_cast<int64_t>(
      mix_seed(seed, 0x7E47, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index)) % starts);
}

int64_t eval_window_start(int64_t index, int64_t windows, int64_t n, int64_t context) {
  const int64_t last = n - context - 1;
  if (windows <= 1) return 0;
  return index * last / (windows - 1);
}

void fill_window(const int64_t* tokens, int64_t start, int64_t context, int64_t* inputs,
                 int64_t* targets) {
  std::memcpy(inputs, tokens + start, static_cast<size_t>(context) * sizeof(int64_t));
  std::memcpy(targets, tokens + start + 1, static_cast<size_t>(context) * sizeof(int64_t));
}

int64_t windows_that_fit(int64_t n, int64_t context) {
  if (n < context + 1) return 0;
  return std::max<int64_t>(1, (n - 1) / context);
}

}  // namespace parallax
