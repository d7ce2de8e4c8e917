// The run folder: its name, its preparation (stale temporary files, a run already there), and
// its record in the runs directory's results database.
#pragma once
#include <filesystem>
#include <string>

#include "config/config.h"

namespace parallax {

struct DistContext;

// --out, else --resume's folder, else runs/<time>-<strategy>-<model>.
std::string choose_run_dir(const Config& cfg);
// Why `published`, the run folder rank 0 names through the store, is not one this rank may write
// into; "" when it may. With --out (or --resume) it is the folder this rank was given; with
// neither, one directly in runs/ named <time>-<strategy>-<model> for this run (rank 0's clock
// names it). Never one with "..". The store has no authentication: whoever reaches its port
// could otherwise choose where every rank writes.
std::string published_run_dir_problem(const std::string& published, const Config& cfg);
// Every rank's run folder: rank 0's `chosen`, through the store; each rank checks it
// (published_run_dir_problem) and that every rank read the same name. UserError on every rank,
// in one line, where any refuses it.
std::string shared_run_dir(const DistContext& ctx, const Config& cfg, const std::string& chosen);
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
