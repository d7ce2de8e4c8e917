// `parallax bench`: a suite's runs, one `parallax train` child at a time, resumable, then a report.
#include "suite/bench_command.h"


#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <utility>

#include "config/options.h"
#include "config/user_error.h"
#include "suite/presets.h"
#include "suite/suite_runner.h"
#include "suite/suite.h"
#include "train/train_command.h"

namespace parallax {
namespace fs = std::filesystem;

CLI::App* add_bench_command(CLI::App& app, BenchOptions& opts) {
  auto* bench = app.add_subcommand(
      "bench",
      "run a suite (a grid of train runs, YAML) into one runs directory, then write its report; "
      "runs already finished there are skipped, so an interrupted suite resumes");
  bench->add_option("suite", opts.suite_file, "suite file (see bench/suites/*.yaml)");
  bench->add_option("--preset", opts.preset, "a shipped suite: " + [] {
    std::string names;
    for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    return names;
  }());
  bench->add_option("--runs", opts.runs_dir, "runs directory (default: runs/<suite name>)");
  bench->add_option("--report-dir", opts.report_dir, "report folder (default: RUNS/report)");
  bench->add_flag("--dry-run", opts.dry_run, "list the runs the suite expands to, run nothing");
  bench->add_flag("!--no-report", opts.report, "do not write the report at the end");
  return bench;
}

SuiteChecks train_suite_checks() {
  SuiteChecks checks;
  CLI::App app;
  Config cfg;
  add_train_options(app, cfg);
  // The train options live in option groups, which CLI11 keeps as unnamed subcommands.
  std::vector<const CLI::App*> apps{&app};
  for (const CLI::App* g : std::as_const(app).get_subcommands([](const CLI::App*) { return true; }))
    apps.push_back(g);
  for (const CLI::App* a : apps)
    for (const CLI::Option* o : a->get_options())
      for (const auto& name : o->get_lnames()) {
        if (name == "help") continue;
        checks.known_options.push_back(name);
        if (o->get_expected_max() == 0) checks.flag_options.push_back(name);
      }
  checks.check_run = [](const std::vector<std::string>& args) {
    CLI::App app;
    Config cfg;
    add_train_options(app, cfg);
    try {
      app.parse(std::vector<std::string>(args.rbegin(), args.rend()));  // CLI11 pops from the back
    } catch (const CLI::ParseError& e) {
      throw UserError(e.what());
    }
    checked_train_config(cfg);
  };
  checks.path_exists = [](const std::string& path) { return fs::exists(path); };
  return checks;
}

namespace {

Suite load_bench_suite(const BenchOptions& opts) {
  if (opts.suite_file.empty() == opts.preset.empty())
    throw UserError("bench: give a suite file or --preset NAME (one of them), e.g. " +
                    std::string("parallax bench --preset quick"));
  const SuiteChecks checks = train_suite_checks();
  if (!opts.preset.empty())
    return load_suite(preset_yaml(opts.preset), "bench/suites/" + opts.preset + ".yaml", checks);
  return load_suite_file(opts.suite_file, checks);
}

}  // namespace

int bench_main(const BenchOptions& opts) {
  const Suite suite = load_bench_suite(opts);  // every run is checked before any starts
  const std::string runs = opts.runs_dir.empty() ? "runs/" + suite.name : opts.runs_dir;
  const int n = static_cast<int>(suite.runs.size());
  std::printf("bench: suite %s: %d runs into %s\n", suite.name.c_str(), n, runs.c_str());
  if (opts.dry_run) {
    for (const auto& r : suite.runs) {
      std::string line = "  " + r.name + ":";
      for (const auto& a : r.args) line += " " + a;
      std::printf("%s\n", line.c_str());
    }
    return 0;
  }
  const SuiteRunResult done = run_suite(suite.name, suite.runs, runs);
  if (done.interrupted) {
    std::printf("bench: interrupted; run the same command again to resume (finished runs are "
                "kept)\n");
    return 130;
  }
  if (opts.report && opts.write_report) {
    const std::string page = opts.write_report(runs, opts.report_dir);
    std::printf("bench: report: %s\n", page.c_str());
  }
  std::printf("bench: %d of %d runs finished%s\n", n - done.failed, n,
              done.failed ? "; failed runs are in the report with their reason" : "");
  return done.failed ? 1 : 0;
}

}  // namespace parallax
