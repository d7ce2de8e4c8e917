// ResultsDb: the runs directory's SQLite database of runs (RUNS/results.sqlite).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "metrics/run_record.h"

struct sqlite3;

namespace parallax {

// runs_dir + "/results.sqlite".
std::string results_db_path(const std::string& runs_dir);

// One open connection. Several processes may hold one at the same time (rank 0 of a training run
// and the bench runner): writes wait up to 30 s for each other instead of failing.
class ResultsDb {
 public:
  // user_version of a file this build writes; a file with a larger one is refused.
  static constexpr int kSchemaVersion = 1;
  // PRAGMA application_id of our files: "PRLX".
  static constexpr int kApplicationId = 0x50524C58;

  // Opens or creates the database at path and brings its schema up to kSchemaVersion. Throws
  // UserError, leaving the file untouched, when it is not SQLite, corrupt, another program's, or
  // of a newer schema.
  explicit ResultsDb(const std::string& path);
  ~ResultsDb();
  ResultsDb(const ResultsDb&) = delete;
  ResultsDb& operator=(const ResultsDb&) = delete;

  const std::string& path() const { return path_; }

  // Inserts r, or replaces the run of the same name (with its epochs and ranks), in one
  // transaction: a reader sees the old run or the new one, never a mix.
  void put(const RunRecord& r);
  std::optional<RunRecord> get(const std::string& name) const;
  std::vector<RunRecord> all() const;  // ordered by started_at, then name
  bool has_finished(const std::string& name) const;

  // Test hook: called inside put()'s transaction just before COMMIT (tests kill the process there).
  void set_before_commit(std::function<void()> f) { before_commit_ = std::move(f); }

 private:
  void check_ours();  // reads only: refuses files that are not ours before anything is written
  void migrate();
  // The run of that name, or every run when name is nullopt; ordered as all().
  std::vector<RunRecord> select(const std::optional<std::string>& name) const;

  std::string path_;
  sqlite3* db_ = nullptr;
  std::function<void()> before_commit_;
};

}  // namespace parallax
