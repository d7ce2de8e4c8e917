// parallax report: stored runs to report.html, gnuplot charts and merged Perfetto traces.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "metrics/run_record.h"

namespace parallax {

struct ReportOptions {
  std::string title = "parallax report";
  std::string source;   // where the runs came from (e.g. the RUNS directory), shown on the page
  std::string gnuplot;  // the gnuplot to run; "" finds it on PATH
  nlohmann::json plan;  // RUNS/plan.json (`parallax plan --check`), null if none
};

// Writes out_dir/report.html, out_dir/charts/<chart>.{png,svg,dat,gp} and
// out_dir/traces/<run>.json, each file atomically. Charts without data are not drawn (their
// section says which runs would fill them). Throws UserError when gnuplot is missing, and
// std::runtime_error when a file cannot be written or gnuplot fails.
void write_report(const std::vector<RunRecord>& runs, const std::string& out_dir,
                  const ReportOptions& options = {});

}  // namespace parallax
