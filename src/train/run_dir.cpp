// Run folders: naming, preparing, and recording them in the results database.
#include "train/run_dir.h"

#include <ctime>

#include "config/user_error.h"
#include "metrics/results_db.h"
#include "metrics/run_import.h"
#include "train/checkpoint.h"

namespace parallax {
namespace fs = std::filesystem;

std::string choose_run_dir(const Config& cfg) {
  if (!cfg.out.empty()) return cfg.out;
  if (!cfg.resume.empty()) return cfg.resume;
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", std::localtime(&now));
  return "runs/" + std::string(stamp) + "-" + cfg.strategy + "-" + cfg.model;
}

namespace {

// Temporary files of atomic writes (NAME.tmp.PID) that a kill left behind.
void remove_stale_temp_files(const std::string& run_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) fs::remove(entry.path(), ec);
  }
}

}  // namespace

void prepare_run_dir(const std::string& dir, bool resuming) {
  if (!resuming && fs::exists(checkpoint_path(dir)))
    throw UserError("--out " + dir + ": already holds a run; continue it with --resume " + dir +
                    " or choose another --out");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw UserError("--out " + dir + ": cannot create it (" + ec.message() + ")");
  remove_stale_temp_files(dir);
}

fs::path run_folder(const std::string& run_dir) {
  fs::path dir = fs::absolute(run_dir).lexically_normal();
  return dir.has_filename() ? dir : dir.parent_path();
}

// The run folder is already complete, so a database that cannot take the row (foreign, corrupt,
// read-only) costs a warning, not the run.
void record_run(const std::string& run_dir, bool verbose) {
  try {
    ResultsDb db(results_db_path(run_folder(run_dir).parent_path().string()));
    db.put(read_run_dir(run_dir));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parallax: warning: run not recorded in the results database: %s\n",
                 e.what());
  }
}

void record_run_if_missing(const std::string& run_dir, bool verbose) {
  const fs::path dir = run_folder(run_dir);
  try {
    ResultsDb db(results_db_path(dir.parent_path().string()));
    if (db.has_finished(dir.filename().string())) return;
  } catch (const std::exception&) {
    // record_run() says what is wrong with the database, once.
  }
  record_run(run_dir, verbose);
}

}  // namespace parallax
