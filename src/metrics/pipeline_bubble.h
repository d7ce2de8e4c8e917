// The idle share a pipeline's schedule leaves in theory, reported beside the bubble parallax
// measures. One name, one meaning: the stage and micro-batch counts are types of their own, so
// no caller can pass them in the other order (two functions of this name, one taking (micro,
// stages) and one (stages, micro), once let the type of two bare numbers pick the order).
#pragma once

namespace parallax {

struct StageCount {
  explicit StageCount(double n) : value(n) {}
  double value;
};

struct MicroBatchCount {
  explicit MicroBatchCount(double n) : value(n) {}
  double value;
};

// GPipe's and 1F1B's bubble in a perfectly balanced pipeline: (P - 1) / (M + P - 1) for P stages
// and M micro-batches; 0 where there is nothing to divide by.
inline double theoretical_bubble(StageCount stages, MicroBatchCount micro_batches) {
  const double p = stages.value, m = micro_batches.value;
  return m + p - 1 > 0 ? (p - 1) / (m + p - 1) : 0.0;
}

}  // namespace parallax
