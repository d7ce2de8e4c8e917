// Readings and noise: repeats' spread, the leaders within it, and the test set's interval.
#include "report/readings_noise.h"

#include <algorithm>
#include <cmath>

#include "report/readings.h"

namespace parallax {
namespace {

// (max - min) / mean of one configuration's repeats; 0 with fewer than two.
double range_of(const Stat& s) {
  return s.n >= 2 && s.mean > 0 ? (s.max - s.min) / s.mean : 0.0;
}

}  // namespace

RepeatComparison compare_repeats(const Stat& a, const Stat& b) {
  RepeatComparison c;
  const double low = std::min(a.mean, b.mean);
  c.gap = low > 0 ? std::fabs(a.mean - b.mean) / low : 0.0;
  c.spread = std::max(range_of(a), range_of(b));
  c.measured = a.n >= 2 || b.n >= 2;
  c.differs = c.gap > c.spread;
  return c;
}

std::vector<const ConfigGroup*> ranked_by(const ReportData& data, StatMember m,
                                          bool lower_is_better) {
  std::vector<const ConfigGroup*> out;
  for (const ConfigGroup* g : data.finished())
    if ((g->*m).present()) out.push_back(g);
  std::stable_sort(out.begin(), out.end(), [&](const ConfigGroup* x, const ConfigGroup* y) {
    return lower_is_better ? (x->*m).mean < (y->*m).mean : (x->*m).mean > (y->*m).mean;
  });
  return out;
}

std::vector<const ConfigGroup*> leaders(const ReportData& data, StatMember m,
                                        bool lower_is_better) {
  std::vector<const ConfigGroup*> out;
  for (const ConfigGroup* g : ranked_by(data, m, lower_is_better))
    // Each is compared with the best, not with its neighbour: noise does not chain.
    if (out.empty() || !compare_repeats(out.front()->*m, g->*m).differs) out.push_back(g);
  return out;
}

double spread_of(const std::vector<const ConfigGroup*>& groups, StatMember m) {
  double spread = 0;
  for (const ConfigGroup* g : groups) spread = std::max(spread, range_of(g->*m));
  return spread;
}

double wilson_half_width(double p, double n) {
  if (n <= 0) return 0;
  constexpr double z = 1.959963984540054;  // two-sided 95%
  const double z2n = z * z / n;
  return z / (1 + z2n) * std::sqrt(p * (1 - p) / n + z2n / (4 * n));
}

double difference_half_width(double a, double b, double n) {
  if (n <= 0) return 0;
  constexpr double z = 1.959963984540054;
  // The Wilson interval is centred on (p + z^2/2n) / (1 + z^2/n), not on p.
  auto centre = [&](double p) { return (p + z * z / (2 * n)) / (1 + z * z / n); };
  const double hi = std::max(a, b), lo = std::min(a, b);
  const double hi_lower = centre(hi) - wilson_half_width(hi, n);
  const double lo_upper = centre(lo) + wilson_half_width(lo, n);
  return std::hypot(hi - hi_lower, lo_upper - lo);
}

namespace {

// max - min of a configuration's repeats' final test accuracy; 0 with fewer than two.
double accuracy_spread(const ConfigGroup& g) {
  return g.test_accuracy.n >= 2 ? g.test_accuracy.max - g.test_accuracy.min : 0.0;
}

}  // namespace

AccuracyComparison compare_accuracy(double a, double b, const ConfigGroup& ga,
                                    const ConfigGroup& gb) {
  AccuracyComparison c;
  c.gap = std::fabs(a - b);
  // Different test sets (a suite rarely mixes them): the smaller one bounds what is known.
  std::optional<double> n = ga.test_images;
  if (gb.test_images && (!n || *gb.test_images < *n)) n = gb.test_images;
  if (n) {
    c.test_images = *n;
    c.interval = difference_half_width(a, b, *n);
  }
  // Repeats show how far a run's accuracy moves with its seed alone, on the same test images:
  // where that spread is the wider, it is the noise a gap between two runs must clear.
  const double spread = std::max(accuracy_spread(ga), accuracy_spread(gb));
  if (spread > c.interval) {
    c.interval = spread;
    c.from_repeats = true;
  }
  c.known = n.has_value() || c.from_repeats;
  c.differs = c.known && c.gap > c.interval;
  return c;
}

std::string factor_text(double ratio) {
  // Near 1, two decimals: "1.1x" would hide whether a 5% gap or a 14% one was measured.
  if (ratio < 1.095) return format_fixed(ratio, 2) + "x";
  return format_ratio(ratio);
}

std::string percent_text(double fraction) {
  return format_percent(fraction, std::fabs(fraction) < 0.1 ? 1 : 0);
}

std::string spread_text(double spread) {
  return "repeats spread up to " + percent_text(spread);
}

std::string interval_text(const AccuracyComparison& c) {
  if (c.from_repeats) return "their repeats' spread of ±" + format_percent(c.interval, 1);
  return "the test set's ±" + format_percent(c.interval, 1) + " (95% interval of a difference, " +
         format_count(c.test_images) + " images)";
}

std::string names_text(const std::vector<const ConfigGroup*>& groups) {
  std::string s;
  for (size_t i = 0; i < groups.size(); ++i)
    s += (i == 0 ? "" : i + 1 == groups.size() ? " and " : ", ") + groups[i]->label;
  return s;
}

}  // namespace parallax
