// Readings: each sentence names the configurations it compares and the numbers behind the claim.
#include "report/readings.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <vector>

namespace parallax {
namespace {

using Member = Stat ConfigGroup::*;

// The finished group with the smallest (or largest) mean of a figure; nullptr if none has it.
const ConfigGroup* extreme(const ReportData& data, Member m, bool largest) {
  const ConfigGroup* best = nullptr;
  for (const ConfigGroup* g : data.finished()) {
    if (!(g->*m).present()) continue;
    if (!best || (largest ? (g->*m).mean > (best->*m).mean : (g->*m).mean < (best->*m).mean))
      best = g;
  }
  return best;
}

std::string seconds(double s) {
  return format_sig(s) + " s";
}
std::string img_s(double v) {
  return format_fixed(v, 1);
}

// Test accuracy of the last epoch that ended by t seconds of training; < 0 if none had.
double accuracy_at(const RunRecord& run, double t) {
  double acc = -1;
  for (const EpochRow& e : run.epochs)
    if (e.elapsed_train_s <= t * (1 + 1e-9)) acc = e.test_accuracy;
  return acc;
}

// Images a configuration trained: steps x global batch size of its first finished repeat.
std::optional<double> trained_images(const ConfigGroup& g) {
  const auto steps = json_number(g.first()->summary, {"steps"});
  const auto batch = json_number(g.first()->config, {"batch_size"});
  if (!steps || !batch) return std::nullopt;
  return *steps * *batch;
}

std::vector<const ConfigGroup*> with_epochs(const ReportData& data) {
  std::vector<const ConfigGroup*> out;
  for (const ConfigGroup* g : data.finished())
    if (!g->first()->epochs.empty()) out.push_back(g);
  return out;
}

}  // namespace

std::string format_sig(double value, int digits) {
  if (value == 0 || !std::isfinite(value)) return format_fixed(value, 0);
  const int magnitude = static_cast<int>(std::floor(std::log10(std::fabs(value))));
  return format_fixed(value, std::max(0, digits - 1 - magnitude));
}

std::string format_fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  return buf;
}

std::string format_ratio(double ratio) {
  // Two significant digits, but keep the trailing zero: "0.50x" reads as a measured ratio.
  if (ratio >= 10) return format_fixed(ratio, 0) + "x";
  if (ratio >= 1) return format_fixed(ratio, 1) + "x";
  if (ratio >= 0.1) return format_fixed(ratio, 2) + "x";
  return format_fixed(ratio, 3) + "x";
}

std::string format_percent(double fraction, int decimals) {
  return format_fixed(100 * fraction, decimals) + "%";
}

std::string format_count(double value) {
  if (std::isfinite(value) && std::fabs(value - std::round(value)) < 1e-9 &&
      std::fabs(value) < 1e15)
    return format_fixed(value, 0);
  return format_sig(value);
}

std::string format_mib(double bytes) {
  return format_sig(bytes / (1024.0 * 1024.0)) + " MiB";
}

std::string read_execution_time(const ReportData& data) {
  const ConfigGroup* fast = extreme(data, &ConfigGroup::train_time_s, false);
  const ConfigGroup* slow = extreme(data, &ConfigGroup::train_time_s, true);
  if (!fast) return "";
  const double tf = fast->train_time_s.mean, ts = slow->train_time_s.mean;
  if (fast == slow)
    return fast->label + " trained in " + seconds(tf) + " (mean of " +
           std::to_string(fast->train_time_s.n) +
           (fast->train_time_s.n == 1 ? " repeat)." : " repeats).");
  std::string s = fast->label + " is the fastest configuration at " + seconds(tf);
  const ConfigGroup* single = data.single(*fast);
  if (single && single != fast && single->train_time_s.present())
    s += ", " + format_ratio(tf / single->train_time_s.mean) + " the time of single (" +
         seconds(single->train_time_s.mean) + ")";
  s += "; the slowest is " + slow->label + " at " + seconds(ts) + ", " + format_ratio(ts / tf) +
       " longer";
  // Times only compare like for like: runs that trained different amounts of data do not.
  const auto a = trained_images(*fast), b = trained_images(*slow);
  if (a && b && std::fabs(*a - *b) > 0.01 * std::max(*a, *b))
    s += ", but they trained " + format_count(*a) + " vs " + format_count(*b) +
         " images, so compare their img/s";
  return s + ".";
}

std::string read_split_size(const ReportData& data) {
  const ConfigGroup* best = nullptr;
  const std::string sweep = data.sweep_workload();  // the chart's runs
  for (const ConfigGroup* g : data.finished())
    if (g->strategy == "pipeline" && g->micro_batch_size && g->images_per_sec.present() &&
        g->workload == sweep && (!best || g->images_per_sec.mean > best->images_per_sec.mean))
      best = g;
  if (!best) return "";
  const std::string split = format_count(*best->micro_batch_size);
  std::string s = "pipeline with split size " + split;
  const ConfigGroup* model = data.naive_model(*best);
  if (model && model->images_per_sec.present())
    s += " is " + format_ratio(best->images_per_sec.mean / model->images_per_sec.mean) +
         " naive model parallel (" + img_s(best->images_per_sec.mean) + " vs " +
         img_s(model->images_per_sec.mean) + " img/s)";
  else
    s += " is the fastest split (" + img_s(best->images_per_sec.mean) + " img/s)";
  if (best->bubble_fraction.present() && best->bubble_fraction_theory.present())
    s += ", with a measured bubble of " + format_percent(best->bubble_fraction.mean) + " against " +
         format_percent(best->bubble_fraction_theory.mean) + " in theory";
  return s + ".";
}

std::string read_epoch_time(const ReportData& data) {
  const ConfigGroup* fast = extreme(data, &ConfigGroup::mean_epoch_time_s, false);
  const ConfigGroup* slow = extreme(data, &ConfigGroup::mean_epoch_time_s, true);
  if (!fast) return "";
  const double tf = fast->mean_epoch_time_s.mean, ts = slow->mean_epoch_time_s.mean;
  if (fast == slow) return "an epoch of " + fast->label + " takes " + seconds(tf) + ".";
  return "mean epoch time ranges from " + seconds(tf) + " (" + fast->label + ") to " + seconds(ts) +
         " (" + slow->label + "), " + format_ratio(ts / tf) + " apart.";
}

std::string read_time_to_target(const ReportData& data) {
  const ConfigGroup* fast = extreme(data, &ConfigGroup::time_to_target_s, false);
  if (!fast) return "";
  std::string target = "its target accuracy";
  if (fast->target_accuracy.present())
    target = format_percent(fast->target_accuracy.mean) + " test accuracy";
  std::string s = fast->label + " reaches " + target + " first, in " +
                  seconds(fast->time_to_target_s.mean) + " (" +
                  format_count(fast->epochs_to_target.mean) + " epochs)";
  const ConfigGroup* single = data.single(*fast);
  const ConfigGroup* other = single && single != fast && single->time_to_target_s.present()
                                 ? single
                                 : extreme(data, &ConfigGroup::time_to_target_s, true);
  if (other && other != fast)
    s += ", " + format_ratio(fast->time_to_target_s.mean / other->time_to_target_s.mean) +
         " the time " + other->label + " needs (" + seconds(other->time_to_target_s.mean) + ")";
  // Configurations that aimed at a target and missed it; those without one are not counted.
  int missed = 0;
  for (const ConfigGroup* g : data.finished())
    missed += g->target_accuracy.present() && !g->time_to_target_s.present() ? 1 : 0;
  if (missed > 0)
    s += "; " + std::to_string(missed) +
         (missed == 1 ? " configuration misses its target" : " configurations miss their target");
  return s + ".";
}

std::string read_curves_by_epoch(const ReportData& data) {
  const auto groups = with_epochs(data);
  if (groups.empty()) return "";
  size_t common = std::numeric_limits<size_t>::max();
  for (const ConfigGroup* g : groups) common = std::min(common, g->first()->epochs.size());
  const ConfigGroup *lo = nullptr, *hi = nullptr;
  double loss_lo = 0, loss_hi = 0;
  for (const ConfigGroup* g : groups) {
    const EpochRow& e = g->first()->epochs[common - 1];
    if (!lo || e.test_accuracy < lo->first()->epochs[common - 1].test_accuracy) lo = g;
    if (!hi || e.test_accuracy > hi->first()->epochs[common - 1].test_accuracy) hi = g;
    loss_lo = g == groups.front() ? e.train_loss : std::min(loss_lo, e.train_loss);
    loss_hi = g == groups.front() ? e.train_loss : std::max(loss_hi, e.train_loss);
  }
  const double a_lo = lo->first()->epochs[common - 1].test_accuracy;
  const double a_hi = hi->first()->epochs[common - 1].test_accuracy;
  std::string s = "after " + std::to_string(common) + (common == 1 ? " epoch" : " epochs");
  if (groups.size() == 1)
    return s + ", " + lo->label + " reaches " + format_percent(a_lo, 1) +
           " test accuracy at a train loss of " + format_sig(loss_lo) + ".";
  s += ", test accuracy ranges from " + format_percent(a_lo, 1) + " (" + lo->label + ") to " +
       format_percent(a_hi, 1) + " (" + hi->label + ") and train loss from " + format_sig(loss_lo) +
       " to " + format_sig(loss_hi);
  // Strategies that compute the same mathematics should learn alike per epoch; a gap of more
  // than 2 points says one of them changes the optimisation (batch statistics, staleness).
  if (a_hi - a_lo < 0.02) return s + ": per epoch, the configurations learn alike.";
  return s + ": " + hi->label + " learns most per epoch.";
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
  const double t = first->first()->epochs.back().elapsed_train_s;
  std::string s = "by " + seconds(t) + " of training, when " + first->label + " finishes, it has " +
                  format_percent(first->first()->epochs.back().test_accuracy, 1) + " test accuracy";
  const ConfigGroup* single = data.single(*first);
  const ConfigGroup* other =
      single && single != first && !single->first()->epochs.empty() ? single : last;
  if (other == first) return s + ".";
  const double acc = accuracy_at(*other->first(), t);
  if (acc < 0) return s + " and " + other->label + " has not finished an epoch.";
  return s + " and " + other->label + " " + format_percent(acc, 1) + ".";
}

std::string read_scaling(const ReportData& data) {
  const auto points = scaling_points(data);
  // The largest world of each strategy, in order.
  std::vector<const ScalingPoint*> tops;
  for (const ScalingPoint& p : points) {
    if (p.world <= 1) continue;
    if (!tops.empty() && tops.back()->strategy == p.strategy)
      tops.back() = &p;
    else
      tops.push_back(&p);
  }
  if (tops.empty()) return "";
  std::stable_sort(tops.begin(), tops.end(), [](const ScalingPoint* a, const ScalingPoint* b) {
    return a->efficiency > b->efficiency;
  });
  const ScalingPoint& lead = *tops.front();
  std::string s = "at " + std::to_string(lead.world) + " ranks " + lead.strategy + " keeps " +
                  format_percent(lead.efficiency) + " scaling efficiency (" +
                  img_s(lead.images_per_sec) + " img/s vs " +
                  img_s(lead.base->images_per_sec.mean) + " for " + lead.base->label + ")";
  for (size_t i = 1; i < tops.size(); ++i)
    s += std::string(i + 1 == tops.size() ? " and " : ", ") + tops[i]->strategy + " " +
         format_percent(tops[i]->efficiency) +
         (tops[i]->world != lead.world ? " at " + std::to_string(tops[i]->world) : "");
  return s + ".";
}

std::string read_breakdown(const ReportData& data) {
  const ConfigGroup *comm = nullptr, *bubble = nullptr;
  auto share = [](const ConfigGroup* g, Member part) {
    return g->step_time_s.mean > 0 ? (g->*part).mean / g->step_time_s.mean : 0.0;
  };
  bool any = false;
  for (const ConfigGroup* g : data.finished()) {
    if (!g->step_time_s.present()) continue;
    any = any || g->compute_per_step_s.present();
    if (g->comm_per_step_s.present() && g->comm_per_step_s.mean > 0 &&
        (!comm ||
         share(g, &ConfigGroup::comm_per_step_s) > share(comm, &ConfigGroup::comm_per_step_s)))
      comm = g;
    if (g->bubble_per_step_s.present() &&
        (!bubble || share(g, &ConfigGroup::bubble_per_step_s) >
                        share(bubble, &ConfigGroup::bubble_per_step_s)))
      bubble = g;
  }
  if (!any) return "";
  std::string s;
  if (comm)
    s = "exposed communication takes " +
        format_percent(share(comm, &ConfigGroup::comm_per_step_s)) + " of a " + comm->label +
        " step (" + seconds(comm->comm_per_step_s.mean) + " of " + seconds(comm->step_time_s.mean) +
        ")";
  else
    s = "no configuration leaves communication exposed";
  if (bubble)
    s += std::string(comm ? " and the pipeline bubble " : "; the pipeline bubble takes ") +
         format_percent(share(bubble, &ConfigGroup::bubble_per_step_s)) + " of a " + bubble->label +
         " step";
  return s + ".";
}

std::string read_memory(const ReportData& data) {
  // ZeRO's claim is memory for speed: compare it with ddp at the same world size.
  for (const ConfigGroup* z : data.finished()) {
    if (z->strategy.rfind("zero", 0) != 0) continue;
    const ConfigGroup* ddp = data.fastest_of("ddp", z->world, z->workload);
    if (!ddp || !z->images_per_sec.present() || !ddp->images_per_sec.present()) continue;
    double z_opt = 0, d_opt = 0;
    for (const RankMemory& m : rank_memory(*z)) z_opt = std::max(z_opt, m.optimizer);
    for (const RankMemory& m : rank_memory(*ddp)) d_opt = std::max(d_opt, m.optimizer);
    if (z_opt <= 0 || d_opt <= 0) continue;
    return z->strategy + " trains at " +
           format_ratio(z->images_per_sec.mean / ddp->images_per_sec.mean) + " ddp with " +
           format_ratio(z_opt / d_opt) + " the optimizer state (" + format_mib(z_opt) + " vs " +
           format_mib(d_opt) + " per rank).";
  }
  const ConfigGroup* most = nullptr;
  RankMemory top;
  double top_sum = 0;
  for (const ConfigGroup* g : data.finished())
    for (const RankMemory& m : rank_memory(*g)) {
      const double sum = m.params + m.grads + m.optimizer + m.activations;
      if (sum > top_sum) most = g, top = m, top_sum = sum;
    }
  if (!most) return "";
  return most->label + " rank " + std::to_string(top.rank) +
         " holds the most: " + format_mib(top_sum) +
         " of parameters, gradients, optimizer state and activations.";
}

std::string read_verdict(const ReportData& data) {
  const ConfigGroup* fast = extreme(data, &ConfigGroup::images_per_sec, true);
  if (!fast) return "No finished run to compare yet.";
  std::string s = "Fastest: " + fast->label + " at " + img_s(fast->images_per_sec.mean) + " img/s";
  const ConfigGroup* single = data.single(*fast);
  if (single && single != fast && single->images_per_sec.present())
    s += " (" + format_ratio(fast->images_per_sec.mean / single->images_per_sec.mean) + " single)";
  if (const ConfigGroup* t = extreme(data, &ConfigGroup::time_to_target_s, false))
    s += "; first to " +
         (t->target_accuracy.present() ? format_percent(t->target_accuracy.mean) : "its target") +
         " test accuracy: " + t->label + " (" + seconds(t->time_to_target_s.mean) + ")";
  return s + ".";
}

}  // namespace parallax
