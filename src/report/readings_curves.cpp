// Readings of the learning curves: accuracy gaps against the two runs' binomial interval, and
// the known mechanism (BatchNorm's images, the global batch) when a gap is beyond it.
#include <algorithm>
#include <limits>
#include <vector>

#include "report/readings.h"
#include "report/readings_causes.h"
#include "report/readings_noise.h"

namespace parallax {
namespace {

// Test accuracy of the last epoch that ended by t seconds of training; < 0 if none had.
double accuracy_at(const RunRecord& run, double t) {
  double acc = -1;
  for (const EpochRow& e : run.epochs)
    if (e.elapsed_train_s <= t * (1 + 1e-9)) acc = e.test_accuracy;
  return acc;
}

// The curves are drawn from each configuration's first finished repeat; so are their readings.
std::vector<const ConfigGroup*> with_epochs(const ReportData& data) {
  std::vector<const ConfigGroup*> out;
  for (const ConfigGroup* g : data.finished())
    if (!g->first()->epochs.empty()) out.push_back(g);
  return out;
}

// Language models: validation loss of the last epoch that ended by t seconds; < 0 if none had.
double loss_at(const RunRecord& run, double t) {
  double loss = -1;
  for (const EpochRow& e : run.epochs)
    if (e.elapsed_train_s <= t * (1 + 1e-9)) loss = e.test_loss;
  return loss;
}

// A language model's curves: the validation loss (its metric; accuracy is not one).
std::string read_loss_by_epoch(const std::vector<const ConfigGroup*>& groups) {
  size_t common = std::numeric_limits<size_t>::max();
  for (const ConfigGroup* g : groups) common = std::min(common, g->first()->epochs.size());
  auto loss = [&](const ConfigGroup* g) { return g->first()->epochs[common - 1].test_loss; };
  const ConfigGroup *lo = groups.front(), *hi = groups.front();
  for (const ConfigGroup* g : groups) {
    if (loss(g) < loss(lo)) lo = g;
    if (loss(g) > loss(hi)) hi = g;
  }
  std::string s = "after " + std::to_string(common) + (common == 1 ? " epoch" : " epochs");
  if (groups.size() == 1 || loss(hi) - loss(lo) < 5e-4)
    return s + ", the validation loss is " + format_sig(loss(lo)) + " nats per token (" +
           (groups.size() == 1 ? lo->label : "every configuration, within 0.0005") + ").";
  return s + ", the validation loss ranges from " + format_sig(loss(lo)) + " (" + lo->label +
         ") to " + format_sig(loss(hi)) + " (" + hi->label + ") nats per token.";
}

std::string read_loss_by_time(const ReportData& data, const ConfigGroup* first,
                              const ConfigGroup* last) {
  const double t = first->first()->epochs.back().elapsed_train_s;
  std::string s = "by " + format_seconds(t) + " of training, when " + first->label +
                  " finishes, its validation loss is " +
                  format_sig(first->first()->epochs.back().test_loss);
  const ConfigGroup* single = data.single(*first);
  const ConfigGroup* other =
      single && single != first && !single->first()->epochs.empty() ? single : last;
  if (other == first) return s + ".";
  const double loss = loss_at(*other->first(), t);
  if (loss < 0) return s + " and " + other->label + " has not finished an epoch.";
  return s + " and " + other->label + "'s " + format_sig(loss) + ".";
}

}  // namespace

std::string read_curves_by_epoch(const ReportData& data) {
  const auto groups = with_epochs(data);
  if (groups.empty()) return "";
  if (data.language_models()) return read_loss_by_epoch(groups);
  size_t common = std::numeric_limits<size_t>::max();
  for (const ConfigGroup* g : groups) common = std::min(common, g->first()->epochs.size());
  auto accuracy = [&](const ConfigGroup* g) {
    return g->first()->epochs[common - 1].test_accuracy;
  };
  const ConfigGroup *lo = nullptr, *hi = nullptr;
  double loss_lo = 0, loss_hi = 0;
  for (const ConfigGroup* g : groups) {
    const EpochRow& e = g->first()->epochs[common - 1];
    if (!lo || e.test_accuracy < accuracy(lo)) lo = g;
    if (!hi || e.test_accuracy > accuracy(hi)) hi = g;
    loss_lo = g == groups.front() ? e.train_loss : std::min(loss_lo, e.train_loss);
    loss_hi = g == groups.front() ? e.train_loss : std::max(loss_hi, e.train_loss);
  }
  const double a_lo = accuracy(lo), a_hi = accuracy(hi);
  std::string s = "after " + std::to_string(common) + (common == 1 ? " epoch" : " epochs");
  if (groups.size() == 1)
    return s + ", " + lo->label + " reaches " + format_percent(a_lo, 1) +
           " test accuracy at a train loss of " + format_sig(loss_lo) + ".";
  s += ", test accuracy ranges from " + format_percent(a_lo, 1) + " (" + lo->label + ") to " +
       format_percent(a_hi, 1) + " (" + hi->label + ") and train loss from " + format_sig(loss_lo) +
       " to " + format_sig(loss_hi);
  // The runs see the same images in the same order: a gap is only a gap beyond what a test set
  // of this size can resolve, and then only a mechanism the runs differ in may be named.
  const AccuracyComparison c = compare_accuracy(a_hi, a_lo, *hi, *lo);
  const std::string gap = format_fixed(100 * c.gap, 1) + "-point gap";
  if (!c.known)
    return s + "; the test set's size is not recorded, so the " + gap +
           " is not compared with its interval.";
  if (!c.differs)
    return s + ": per epoch, the configurations are equal within " + interval_text(c) + ".";
  s += ": the " + gap + " is beyond " + interval_text(c);
  const std::string cause = accuracy_cause(*hi, *lo);
  if (cause.empty())
    return s +
           "; the two share the global batch and BatchNorm's images, so no known mechanism "
           "explains it.";
  return s + "; " + cause + ".";
}

std::string read_curves_by_time(const ReportData& data) {
  const auto groups = with_epochs(data);
  if (groups.empty()) return "";
  const ConfigGroup *first = nullptr, *last = nullptr;
  for (const ConfigGroup* g : groups) {
    const double end = g->first()->epochs.back().elapsed_train_s;
    if (!first || end < first->first()->epochs.back().elapsed_train_s) first = g;
    if (!last || end > last->first()->epochs.back().elapsed_train_s) last = g;
  }
  if (data.language_models()) return read_loss_by_time(data, first, last);
  const double t = first->first()->epochs.back().elapsed_train_s;
  const double own = first->first()->epochs.back().test_accuracy;
  std::string s = "by " + format_seconds(t) + " of training, when " + first->label +
                  " finishes, it has " + format_percent(own, 1) + " test accuracy";
  const ConfigGroup* single = data.single(*first);
  const ConfigGroup* other =
      single && single != first && !single->first()->epochs.empty() ? single : last;
  if (other == first) return s + ".";
  const double acc = accuracy_at(*other->first(), t);
  if (acc < 0) return s + " and " + other->label + " has not finished an epoch.";
  s += " and " + other->label + " " + format_percent(acc, 1);
  const AccuracyComparison c = compare_accuracy(own, acc, *first, *other);
  if (c.known && !c.differs) s += ", equal within " + interval_text(c);
  return s + ".";
}

}  // namespace parallax
