// `parallax report RUNS [-o DIR]`: database rows (and loose run folders) to report.html.
#include "report/report_command.h"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>

#include "config/user_error.h"
#include "metrics/results_db.h"
#include "metrics/run_import.h"
#include "report/report.h"

namespace parallax {
namespace fs = std::filesystem;

CLI::App* add_report_command(CLI::App& app, ReportCommandOptions& opts) {
  auto* report = app.add_subcommand(
      "report",
      "write RUNS/report/report.html (charts by gnuplot, PNG and SVG) from RUNS/results.sqlite; "
      "run folders under RUNS that the database lacks are imported first");
  report->add_option("runs", opts.runs_dir, "runs directory (holds results.sqlite and run folders)")
      ->required();
  report->add_option("-o,--out", opts.out_dir, "folder for report.html (default: RUNS/report)");
  return report;
}

std::string write_runs_report(const std::string& runs_dir, const std::string& out_dir) {
  if (!fs::is_directory(runs_dir))
    throw UserError(runs_dir + ": no such runs directory; give the folder that holds the run " +
                    "folders (e.g. runs/quick)");
  ResultsDb db(results_db_path(runs_dir));
  import_missing_runs(db, runs_dir);
  const auto runs = db.all();
  if (runs.empty())
    throw UserError(runs_dir + ": no runs in it; train with --out " + runs_dir +
                    "/NAME or run `parallax bench` first");
  const std::string out = out_dir.empty() ? runs_dir + "/report" : out_dir;
  ReportOptions options;
  // A plan checked into this folder: its predictions against what the runs measured.
  if (std::ifstream in(runs_dir + "/plan.json"); in) {
    try {
      options.plan = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception&) {
      throw UserError(runs_dir + "/plan.json: not JSON; run `parallax plan --check` again or "
                      "remove it");
    }
  }
  write_report(runs, out, options);
  return out + "/report.html";
}

}  // namespace parallax
