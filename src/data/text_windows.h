// Text windows: where each sample of a token stream starts, drawn from (seed, epoch, index) for
// training and fixed for evaluation, and how a window becomes inputs and next-token targets.
#pragma once
#include <cstdint>

namespace parallax {

// Training window `index` of `epoch` in a stream of n tokens: a start in [0, n - context - 1],
// a pure function of its arguments (a resumed run draws the same windows).
int64_t train_window_start(uint64_t seed, int64_t epoch, int64_t index, int64_t n,
                           int64_t context);

// Evaluation window `index` of `windows`: spread evenly over the stream, the same every time.
int64_t eval_window_start(int64_t index, int64_t windows, int64_t n, int64_t context);

// inputs[t] = tokens[start + t], targets[t] = tokens[start + t + 1], t < context.
void fill_window(const int64_t* tokens, int64_t start, int64_t context, int64_t* inputs,
                 int64_t* targets);

// The most windows that fit a stream of n tokens without overlap (at least 1 where one fits).
int64_t windows_that_fit(int64_t n, int64_t context);

}  // namespace parallax
