// Readings and noise: whether two configurations differ beyond what repeating a run changes, and
// whether two accuracies differ beyond the test set's binomial interval.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "report/report_data.h"

namespace parallax {

using StatMember = Stat ConfigGroup::*;

// Two configurations' repeats of one figure (a time or a rate), side by side.
struct RepeatComparison {
  double gap = 0;         // |a - b| over the smaller mean
  double spread = 0;      // the wider of the two configurations' (max - min) / mean
  bool measured = false;  // at least one of them ran two or more repeats
  bool differs = false;   // gap > spread: a difference beyond noise
};
// A gap is a difference only when it is wider than the spread of either configuration's own
// repeats: a gap that one configuration shows against itself says nothing about the other.
RepeatComparison compare_repeats(const Stat& a, const Stat& b);

// The finished configurations that have the figure, best first (lowest when lower_is_better).
std::vector<const ConfigGroup*> ranked_by(const ReportData& data, StatMember m,
                                          bool lower_is_better);
// The best configuration by the figure and every other one equal to it within noise, best
// first; empty when none has the figure. The headline and the first chart's reading both use it,
// so they name the same configurations.
std::vector<const ConfigGroup*> leaders(const ReportData& data, StatMember m, bool lower_is_better);
// The widest (max - min) / mean of the configurations' repeats of m (0 with single runs).
double spread_of(const std::vector<const ConfigGroup*>& groups, StatMember m);

// Half-width of the 95% Wilson score interval of an accuracy p measured on n test images.
// Wilson rather than the normal approximation: it stays wide near 0% and 100%.
double wilson_half_width(double p, double n);
// The 95% interval of the difference of two accuracies measured independently on n test images
// each: Newcombe's hybrid score interval, from each accuracy's Wilson interval. Its half-width
// on the side towards zero (the side a gap must clear), about sqrt(2) times one accuracy's.
double difference_half_width(double a, double b, double n);

// Two test accuracies against the noise of the two runs.
struct AccuracyComparison {
  double gap = 0;  // |a - b|, as a fraction
  // What the gap must clear: the difference's 95% interval on the test set, or the repeats'
  // spread (max - min) where either configuration ran repeats and they spread wider.
  double interval = 0;
  double test_images = 0;     // the test set the interval is for
  bool from_repeats = false;  // interval is the repeats' spread
  bool known = false;         // the test set's size is recorded, or the repeats' spread is
  bool differs = false;       // known and gap > interval
};
AccuracyComparison compare_accuracy(double a, double b, const ConfigGroup& ga,
                                    const ConfigGroup& gb);

// Phrases the readings share.
std::string factor_text(double ratio);                   // 1.05 -> "1.05x", 1.42 -> "1.4x"
std::string percent_text(double fraction);               // 0.04 -> "4.0%", 0.22 -> "22%"
std::string spread_text(double spread);                  // "repeats spread up to 4.0%"
// "the test set's ±4.4% (95% interval of a difference, 1000 images)", or "their repeats' spread
// of ±10%"
std::string interval_text(const AccuracyComparison& c);
// "a, b and c"
std::string names_text(const std::vector<const ConfigGroup*>& groups);

}  // namespace parallax
