// Percentiles of step times (median, p10, p90) by linear interpolation, as numpy's default.
#pragma once
#include <vector>

namespace parallax {

struct Percentiles {
  double median = 0, p10 = 0, p90 = 0;
};

double percentile(std::vector<double> values, double q);  // q in [0, 1]; 0 for no values
Percentiles percentiles(const std::vector<double>& values);

}  // namespace parallax
