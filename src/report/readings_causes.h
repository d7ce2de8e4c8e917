// Known mechanisms behind a difference between two configurations: the readings name one only
// when the runs' own figures show it differs between them; otherwise they claim no cause.
#pragma once
#include <optional>
#include <string>

#include "report/report_data.h"

namespace parallax {

// How many images one BatchNorm layer normalises over in a training forward, and whose they are.
// The runs see the same data in the same order; these statistics are what the strategies change.
struct BatchNormScope {
  double images = 0;
  std::string whose;  // "the whole batch", "a rank's share", "a micro-batch", ...
};
// nullopt for BatchNorm-free models (--norm none) or when the run did not record the batch.
std::optional<BatchNormScope> batchnorm_scope(const ConfigGroup& g);

// Why `a` and `b` may reach different accuracy: a different global batch, or BatchNorm over a
// different number of images ("" when neither differs). One clause, no trailing period.
std::string accuracy_cause(const ConfigGroup& a, const ConfigGroup& b);

// Why `slow` takes longer than `fast`, from its own measured figures: its pipeline bubble, a
// stage imbalance, a different global batch ("" when none applies). One clause.
std::string time_cause(const ConfigGroup& slow, const ConfigGroup& fast);

}  // namespace parallax
