// run_checks(): one suite run per checked row; measured step time is the run's median step.
#include "plan/plan_check.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <fstream>
#include <set>
#include <stdexcept>

#include "config/user_error.h"
#include "suite/suite_runner.h"

namespace parallax {
namespace {

// Train options each candidate (or the check itself) sets: the user's are dropped.
const std::set<std::string>& owned_options() {
  static const std::set<std::string> names{
      "strategy", "nproc", "micro-batches", "split-size", "pipeline-schedule", "virtual-stages",
      "split-at", "balance", "zero-stage", "dp", "pp", "overlap", "no-overlap", "bucket-mb",
      "steps", "timing-warmup", "out", "threads", "resume", "recompute"};
  return names;
}

// plan's own options (not train's).
const std::set<std::string>& plan_options() {
  static const std::set<std::string> names{
      "world", "memory", "json", "check", "check-rounds", "strategies", "plan-micro-batches", "plan-recompute", "memory-per-rank",
      "link-bandwidth", "link-latency", "device-profile"};
  return names;
}

std::string folder_name(const std::string& label) {
  std::string out = "plan-";
  for (char c : label) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_';
  return out;
}

}  // namespace

std::vector<size_t> rows_to_check(const std::vector<PlanRow>& rows, const std::string& check) {
  std::vector<size_t> fit;
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].fits) fit.push_back(i);
  if (check == "all") return fit;
  size_t k = 0;
  try {
    size_t used = 0;
    const long v = std::stol(check, &used);
    if (used != check.size() || v < 1) throw std::invalid_argument(check);
    k = static_cast<size_t>(v);
  } catch (const std::exception&) {
    throw UserError("--check " + check + ": give a count of top predictions to run (e.g. 3) or all");
  }
  std::vector<size_t> out(fit.begin(), fit.begin() + std::min(k, fit.size()));
  const size_t rest = fit.size() - out.size();
  const size_t more = std::min(rest, std::max<size_t>(2, k));
  const size_t top = out.size();
  for (size_t j = 0; j < more; ++j) out.push_back(fit[top + j * rest / more + rest / (2 * more)]);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> workload_args(const CLI::App& plan, int argc, char** argv) {
  std::vector<std::string> out;
  int i = 1;
  while (i < argc && std::string(argv[i]) != "plan") ++i;
  for (++i; i < argc; ++i) {
    std::string token = argv[i];
    if (token.rfind("--", 0) != 0) continue;  // a value: taken with its option below
    const auto eq = token.find('=');
    const std::string name = token.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const CLI::Option* o = plan.get_option_no_throw("--" + name);
    const bool takes_value = o && o->get_expected_max() != 0;
    const bool keep = !owned_options().count(name) && !plan_options().count(name);
    if (keep) out.push_back(token);
    if (takes_value && eq == std::string::npos && i + 1 < argc) {
      ++i;
      if (keep) out.push_back(argv[i]);
    }
  }
  return out;
}

bool run_checks(std::vector<PlanRow>& rows, const std::vector<size_t>& which,
                const std::vector<std::string>& extra, int steps, int rounds,
                const std::string& runs_dir, const std::function<double()>& reference,
                double reference_at_profile) {
  constexpr int kWarmup = 3;  // ZB-V plans again after step 2
  // The workload's fingerprint in every run's name: a folder checked before with another model
  // or batch keeps its runs, and they are never taken for this plan's.
  std::string all;
  for (const auto& a : extra) all += a + " ";
  char tag[16];
  std::snprintf(tag, sizeof tag, "%06zx", std::hash<std::string>{}(all + std::to_string(steps)) & 0xffffff);
  std::vector<SuiteRun> runs;
  // Round-major, as suites run their repeats: drift on a shared machine spreads over all rows.
  for (int round = 0; round < rounds; ++round)
    for (size_t i : which) {
      SuiteRun r;
      r.label = folder_name(rows[i].candidate.label);
      r.repeat = round;
      r.name = r.label + "-" + tag + "-r" + std::to_string(round);
      r.group = "plan";
      r.args = extra;
      r.args.insert(r.args.end(), rows[i].candidate.args.begin(), rows[i].candidate.args.end());
      r.args.insert(r.args.end(), {"--steps", std::to_string(steps + kWarmup), "--timing-warmup",
                                   std::to_string(kWarmup)});
      r.options = {{"strategy", rows[i].candidate.strategy},
                   {"plan_label", rows[i].candidate.label}};
      r.axes = {{"candidate", rows[i].candidate.label}};
      runs.push_back(r);
    }
  std::vector<double> drift(runs.size(), 1), before(runs.size(), 0);
  AroundRun around;
  if (reference && reference_at_profile > 0)
    around = [&](size_t j, bool starting) {
      const double t = reference();
      if (starting)
        before[j] = t;
      else
        drift[j] = std::min(before[j], t) / reference_at_profile;  // interference only slows
    };
  const SuiteRunResult done = run_suite("plan", runs, runs_dir, around);
  // Only the runs that came to an end: an interrupt stops the one it hits and starts no other.
  for (size_t j = 0; j < static_cast<size_t>(done.completed); ++j) {
    PlanRow& row = rows[which[j % which.size()]];
    row.checked = true;
    std::ifstream in(runs_dir + "/" + runs[j].name + "/summary.json");
    try {
      const nlohmann::json s = nlohmann::json::parse(in);
      if (s.value("status", "") != "finished") throw std::runtime_error("not finished");
      // The best round's median step: interference on a shared machine only ever slows a run.
      const double step = s.at("step_time_s").at("median").get<double>();
      if (row.measured_step_s == 0 || step < row.measured_step_s) {
        row.measured_step_s = step;
        row.measured_drift = drift[j];
        row.measured_images_per_sec = s.at("images_per_sec").get<double>();
      }
      for (const auto& r : s.at("ranks"))
        if (r.contains("memory_measured") && r["memory_measured"].is_object())
          row.measured_peak_bytes =
              std::max(row.measured_peak_bytes, r["memory_measured"].value("peak", int64_t{0}));
      ++row.measured_rounds;
    } catch (const std::exception&) {
      if (row.measured_rounds == 0)
        row.check_error = "no finished summary (see " + runs_dir + "/" + runs[j].name + "/train.log)";
    }
  }
  for (size_t i : which)
    if (rows[i].measured_rounds > 0) rows[i].check_error.clear();
  return !done.interrupted;
}

}  // namespace parallax
