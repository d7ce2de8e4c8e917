// Run import: reads a run directory into a RunRecord, and fills the results database from RUNS/*.
#pragma once
#include <string>
#include <vector>

#include "metrics/results_db.h"
#include "metrics/run_record.h"

namespace parallax {

// Reads a run directory (config.json, summary.json if finished, epochs.csv, and suite.json if a
// suite wrote one: {"suite","label","repeat","note"}) into a RunRecord; name = the folder's name.
// A folder without a finished summary.json reads as "failed" (the run stopped before the end).
// Throws UserError naming the file when config.json is missing or a file cannot be parsed.
RunRecord read_run_dir(const std::string& dir);

// Imports every subdirectory of runs_dir that has a config.json and is missing from db (or is in
// it but not finished while the folder now has summary.json). Returns the names imported.
std::vector<std::string> import_missing_runs(ResultsDb& db, const std::string& runs_dir);

}  // namespace parallax
