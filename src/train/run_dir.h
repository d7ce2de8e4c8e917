// The run folder: its name, its preparation (stale temporary files, a run already there), and
// its record in the runs directory's results database.
#pragma once
#include <filesystem>
#include <string>

#include "config/config.h"

namespace parallax {

// --out, else --resume's folder, else runs/<time>-<strategy>-<model>.
std::string choose_run_dir(const Config& cfg);
// Creates the folder and removes temporary files a kill left behind; UserError if it already
// holds a run (a checkpoint) and this one does not resume it.
void prepare_run_dir(const std::string& dir, bool resuming);
// The run folder as an absolute path naming the folder itself ("runs/a/" names a too): its
// parent is the runs directory that holds the results database, its name the run's.
std::filesystem::path run_folder(const std::string& run_dir);
// Adds the finished run to its runs directory's results database, in one transaction; a database
// that cannot take it costs a warning (`parallax report` imports the folder later).
void record_run(const std::string& run_dir, bool verbose);
void record_run_if_missing(const std::string& run_dir, bool verbose);

}  // namespace parallax
