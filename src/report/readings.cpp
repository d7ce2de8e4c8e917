// Readings of speed and the headline: a gap in time or img/s is a difference only beyond the
// spread of the configurations' repeats; otherwise the sentence says they are equal within noise.
#include "report/readings.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <optional>
#include <vector>

#include "report/readings_causes.h"
#include "report/readings_noise.h"

namespace parallax {
namespace {

// Images a configuration trained: steps x global batch size of its first finished repeat.
std::optional<double> trained_images(const ConfigGroup& g) {
  const auto steps = json_number(g.first()->summary, {"steps"});
  const auto batch = json_number(g.first()->config, {"batch_size"});
  if (!steps || !batch) return std::nullopt;
  return *steps * *batch;
}

bool contains(const std::vector<const ConfigGroup*>& groups, const ConfigGroup* g) {
  return std::find(groups.begin(), groups.end(), g) != groups.end();
}

// The figures of configurations equal within noise, with the spread that makes them so:
// "24.6 s and 25.2 s, 2.1% apart; repeats spread up to 5.2%" (three or more: "24.6 s to 25.4 s").
std::string tied_values(const std::vector<const ConfigGroup*>& tied, StatMember m,
                        const std::function<std::string(double)>& unit) {
  const Stat &a = tied.front()->*m, &b = tied.back()->*m;
  std::string s = unit(a.mean) + (tied.size() == 2 ? " and " : " to ") + unit(b.mean);
  if (tied.size() == 2) s += ", " + percent_text(compare_repeats(a, b).gap) + " apart";
  return s + "; " + spread_text(spread_of(tied, m));
}

// "X is 1.4x faster than Y (24.0 s vs 33.6 s), beyond the 2.0% spread of their repeats": the
// factor is slow / fast for times (lower is faster), fast / slow for rates.
std::string beyond_noise(const ConfigGroup& fast, const ConfigGroup& slow, StatMember m,
                         bool lower_is_faster, const std::function<std::string(double)>& unit) {
  const Stat &f = fast.*m, &s = slow.*m;
  const RepeatComparison c = compare_repeats(f, s);
  return factor_text(lower_is_faster ? s.mean / f.mean : f.mean / s.mean) + " faster than " +
         slow.label + " (" + unit(s.mean) + "), " +
         (c.measured ? "beyond the " + percent_text(c.spread) + " spread of their repeats"
                     : "one run each, so the noise is not measured");
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

std::string format_seconds(double s) {
  return format_sig(s) + " s";
}

std::string format_img_s(double value) {
  return format_fixed(value, 1);
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
  const StatMember m = &ConfigGroup::train_time_s;
  const auto ranked = ranked_by(data, m, true);
  if (ranked.empty()) return "";
  const ConfigGroup* fast = ranked.front();
  const double tf = fast->train_time_s.mean;
  if (ranked.size() == 1)
    return fast->label + " trained in " + format_seconds(tf) + " (mean of " +
           std::to_string(fast->train_time_s.n) +
           (fast->train_time_s.n == 1 ? " repeat)." : " repeats).");
  // The same leaders as the headline's: both name the configurations equal within noise.
  const auto top = leaders(data, m, true);
  const ConfigGroup* slow = ranked.back();
  std::vector<std::string> clauses;
  std::vector<const ConfigGroup*> named = top;
  if (top.size() == ranked.size()) {
    clauses.push_back(names_text(top) + " train in equal time within noise (" +
                      tied_values(top, m, format_seconds) + ")");
  } else if (top.size() > 1) {
    clauses.push_back(names_text(top) + " are the fastest, equal within noise (" +
                      tied_values(top, m, format_seconds) + ")");
  } else {
    const ConfigGroup* next = ranked[1];
    clauses.push_back(fast->label + " is the fastest configuration at " + format_seconds(tf) +
                      ", " + beyond_noise(*fast, *next, m, true, format_seconds));
    named.push_back(next);
  }
  const ConfigGroup* single = data.single(*fast);
  if (single && single->train_time_s.present() && !contains(named, single)) {
    clauses.push_back(single->label + " takes " + format_seconds(single->train_time_s.mean) + ", " +
                      factor_text(single->train_time_s.mean / tf) + " longer");
    named.push_back(single);
  }
  if (!contains(named, slow))
    clauses.push_back("the slowest, " + slow->label + ", takes " +
                      format_seconds(slow->train_time_s.mean) + ", " +
                      factor_text(slow->train_time_s.mean / tf) + " longer");
  if (!contains(top, slow)) clauses.push_back(time_cause(*slow, *fast));
  // Times only compare like for like: runs that trained different amounts of data do not.
  const auto a = trained_images(*fast), b = trained_images(*slow);
  if (a && b && std::fabs(*a - *b) > 0.01 * std::max(*a, *b))
    clauses.push_back(fast->label + " and " + slow->label + " trained " + format_count(*a) +
                      " vs " + format_count(*b) + " images, so compare their img/s");
  std::string s;
  for (const std::string& c : clauses)
    if (!c.empty()) s += (s.empty() ? "" : "; ") + c;
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
  if (model && model->images_per_sec.present()) {
    const RepeatComparison c = compare_repeats(best->images_per_sec, model->images_per_sec);
    const std::string both = format_img_s(best->images_per_sec.mean) + " vs " +
                             format_img_s(model->images_per_sec.mean) + " img/s";
    s += c.differs ? " is " + format_ratio(best->images_per_sec.mean / model->images_per_sec.mean) +
                         " naive model parallel (" + both + ")"
                   : " is as fast as naive model parallel within noise (" + both + "; " +
                         spread_text(c.spread) + ")";
  } else {
    s += " is the fastest split (" + format_img_s(best->images_per_sec.mean) + " img/s)";
  }
  if (best->bubble_fraction.present() && best->bubble_fraction_theory.present())
    s += ", with a measured bubble of " + format_percent(best->bubble_fraction.mean) + " against " +
         format_percent(best->bubble_fraction_theory.mean) + " in theory";
  return s + ".";
}

std::string read_epoch_time(const ReportData& data) {
  const StatMember m = &ConfigGroup::mean_epoch_time_s;
  const auto ranked = ranked_by(data, m, true);
  if (ranked.empty()) return "";
  const ConfigGroup *fast = ranked.front(), *slow = ranked.back();
  const double tf = fast->mean_epoch_time_s.mean, ts = slow->mean_epoch_time_s.mean;
  if (fast == slow) return "an epoch of " + fast->label + " takes " + format_seconds(tf) + ".";
  const RepeatComparison c = compare_repeats(fast->*m, slow->*m);
  if (!c.differs)
    return "mean epoch time is equal within noise across the configurations, from " +
           format_seconds(tf) + " (" + fast->label + ") to " + format_seconds(ts) + " (" +
           slow->label + "); " + spread_text(c.spread) + ".";
  return "mean epoch time ranges from " + format_seconds(tf) + " (" + fast->label + ") to " +
         format_seconds(ts) + " (" + slow->label + "), " + format_ratio(ts / tf) + " apart.";
}

std::string read_time_to_target(const ReportData& data) {
  const StatMember m = &ConfigGroup::time_to_target_s;
  const auto top = leaders(data, m, true);
  if (top.empty()) return "";
  const ConfigGroup* fast = top.front();
  std::string target = "its target accuracy";
  if (fast->target_accuracy.present())
    target = format_percent(fast->target_accuracy.mean) + " test accuracy";
  std::string s;
  if (top.size() > 1) {
    s = names_text(top) + " reach " + target + " first, equal within noise (" +
        tied_values(top, m, format_seconds) + ")";
  } else {
    s = fast->label + " reaches " + target + " first, in " +
        format_seconds(fast->time_to_target_s.mean) + " (" +
        format_count(fast->epochs_to_target.mean) + " epochs)";
    const ConfigGroup* single = data.single(*fast);
    const ConfigGroup* other = single && single != fast && single->time_to_target_s.present()
                                   ? single
                                   : ranked_by(data, m, true).back();
    if (other != fast) s += ", " + beyond_noise(*fast, *other, m, true, format_seconds);
  }
  // Configurations that aimed at a target and missed it; those without one are not counted.
  int missed = 0;
  for (const ConfigGroup* g : data.finished())
    missed += g->target_accuracy.present() && !g->time_to_target_s.present() ? 1 : 0;
  if (missed > 0)
    s += "; " + std::to_string(missed) +
         (missed == 1 ? " configuration misses its target" : " configurations miss their target");
  return s + ".";
}

std::string read_verdict(const ReportData& data) {
  // The first chart's measure, training time, picks the fastest: the headline and the chart
  // below it name the same configurations, and the same ties.
  const auto top = leaders(data, &ConfigGroup::train_time_s, true);
  if (top.empty()) return "No finished run to compare yet.";
  const ConfigGroup* fast = top.front();
  std::string s;
  if (top.size() > 1) {
    s = "Fastest by training time, equal within noise: ";
    for (size_t i = 0; i < top.size(); ++i)
      s += (i == 0                ? ""
            : i + 1 == top.size() ? " and "
                                  : ", ") +
           top[i]->label + " (" + format_seconds(top[i]->train_time_s.mean) + ")";
  } else {
    s = "Fastest by training time: " + fast->label + " at " +
        format_seconds(fast->train_time_s.mean);
    if (fast->language_model && fast->tokens_per_sec.present())
      s += " (" + format_img_s(fast->tokens_per_sec.mean) + " tokens/s)";
    else if (fast->images_per_sec.present())
      s += " (" + format_img_s(fast->images_per_sec.mean) + " img/s)";
    const ConfigGroup* single = data.single(*fast);
    if (single && single != fast && single->train_time_s.present())
      s += ", " + factor_text(single->train_time_s.mean / fast->train_time_s.mean) +
           " faster than " + single->label;
  }
  // img/s, the median step's rate, leaves out the first steps and the epochs' ends; where it
  // ranks another configuration first, the headline names both measures.
  const auto by_rate = ranked_by(data, &ConfigGroup::images_per_sec, false);
  if (!by_rate.empty() && !contains(top, by_rate.front()) && fast->images_per_sec.present()) {
    const ConfigGroup* rate = by_rate.front();
    const RepeatComparison c = compare_repeats(rate->images_per_sec, fast->images_per_sec);
    const std::string both = format_img_s(rate->images_per_sec.mean) + " vs " +
                             format_img_s(fast->images_per_sec.mean) + " img/s";
    s += c.differs ? "; by median-step img/s, " + rate->label + " leads (" + both + ")"
                   : "; by median-step img/s, " + rate->label + " and " + fast->label +
                         " are equal within noise (" + both + ")";
  }
  const auto first = leaders(data, &ConfigGroup::time_to_target_s, true);
  if (!first.empty()) {
    const ConfigGroup* t = first.front();
    s += "; first to " +
         (t->target_accuracy.present() ? format_percent(t->target_accuracy.mean) : "its target") +
         " test accuracy" + (first.size() > 1 ? ", equal within noise: " : ": ");
    for (size_t i = 0; i < first.size(); ++i)
      s += (i == 0                  ? ""
            : i + 1 == first.size() ? " and "
                                    : ", ") +
           first[i]->label + " (" + format_seconds(first[i]->time_to_target_s.mean) + ")";
  }
  return s + ".";
}

}  // namespace parallax
