// `parallax bench`: runs a suite's grid of training runs into one runs directory, then reports.
#pragma once
#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace parallax {

struct SuiteChecks;

struct BenchOptions {
  std::string suite_file;  // SUITE.yaml, or
  std::string preset;      // a suite shipped in bench/suites/ (quick, seed, scaling)
  std::string runs_dir;    // default: runs/<suite name>
  std::string report_dir;  // default: RUNS/report
  bool dry_run = false;    // list the runs and stop
  bool report = true;
  // Writes RUNS' report into the folder (default RUNS/report) and returns the page: the report
  // layer sits above the suite's, so the caller (main) hands it in.
  std::function<std::string(const std::string& runs, const std::string& out)> write_report;
};

// Adds the `bench` subcommand, bound to opts.
CLI::App* add_bench_command(CLI::App& app, BenchOptions& opts);

// The checks a suite's runs must pass, exactly those of `parallax train` (options and values).
SuiteChecks train_suite_checks();

// Runs every run of the suite not yet finished in RUNS/results.sqlite (suite/suite_runner.h), then
// writes the report.
// Returns the exit code: 0 when every run finished, 1 when some failed, 130 when interrupted.
int bench_main(const BenchOptions& opts);

}  // namespace parallax
