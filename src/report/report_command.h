// `parallax report`: reads a runs directory's results database and writes report.html + charts.
#pragma once
#include <string>

namespace CLI {
class App;
}

namespace parallax {

struct ReportCommandOptions {
  std::string runs_dir;
  std::string out_dir;  // default: RUNS/report
};

// Adds the `report` subcommand, bound to opts.
CLI::App* add_report_command(CLI::App& app, ReportCommandOptions& opts);

// Imports run folders the database lacks, then writes the report; returns the report's path.
// Throws UserError for a missing runs directory, no runs, or a database that is not ours.
std::string write_runs_report(const std::string& runs_dir, const std::string& out_dir);

}  // namespace parallax
