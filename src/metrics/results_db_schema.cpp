// ResultsDb: the schema and its migrations, and the refusal of files that are not ours.
#include "metrics/results_db.h"

#include <cstdint>
#include <string>

#include "config/user_error.h"
#include "metrics/sqlite_util.h"

namespace parallax {
namespace {

using sqlite::exec_sql;
using sqlite::query_int;
using sqlite::Transaction;

// migrations[i] takes user_version i to i + 1; version 0 is a new, empty file. Append only: a file
// written by an older build is brought up to date by running the scripts it has not seen.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE runs (
  name TEXT PRIMARY KEY NOT NULL, dir TEXT NOT NULL, suite TEXT NOT NULL, label TEXT NOT NULL,
  repeat INTEGER NOT NULL, status TEXT NOT NULL, error TEXT NOT NULL, note TEXT NOT NULL,
  host TEXT NOT NULL, git_revision TEXT NOT NULL, started_at REAL, finished_at REAL,
  config_json TEXT NOT NULL, summary_json TEXT NOT NULL,
  -- Copies of summary (or config) figures, so that people can query with plain sqlite3.
  strategy TEXT, model TEXT, dataset TEXT, world_size INTEGER, batch_size INTEGER,
  images_per_sec REAL, train_time_s REAL, test_accuracy REAL);
CREATE INDEX runs_by_start ON runs (started_at, name);
CREATE INDEX runs_by_label ON runs (suite, label, repeat);
CREATE TABLE epochs (
  run_name TEXT NOT NULL REFERENCES runs (name) ON DELETE CASCADE,
  epoch INTEGER NOT NULL, steps INTEGER NOT NULL, train_loss REAL, train_accuracy REAL,
  test_loss REAL, test_accuracy REAL, train_time_s REAL, eval_time_s REAL, images_per_sec REAL,
  lr REAL, elapsed_train_s REAL,
  PRIMARY KEY (run_name, epoch)) WITHOUT ROWID;
CREATE TABLE ranks (
  run_name TEXT NOT NULL REFERENCES runs (name) ON DELETE CASCADE,
  rank INTEGER NOT NULL, param_bytes INTEGER, grad_bytes INTEGER, optimizer_state_bytes INTEGER,
  peak_memory_bytes INTEGER, figures_json TEXT NOT NULL,
  PRIMARY KEY (run_name, rank)) WITHOUT ROWID;
)sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == ResultsDb::kSchemaVersion,
              "one migration per schema version");

}  // namespace

void ResultsDb::check_ours() {
  int64_t app = 0, version = 0, objects = 0;
  {
    // One read snapshot, so that a process creating the file meanwhile is seen whole or not at all.
    Transaction read(db_, path_, "BEGIN");
    app = query_int(db_, path_, "PRAGMA application_id");
    version = query_int(db_, path_, "PRAGMA user_version");
    objects = query_int(db_, path_, "SELECT count(*) FROM sqlite_master");
    read.commit();
  }
  if (app == kApplicationId) {
    if (version > kSchemaVersion)
      throw UserError(path_ + ": schema version " + std::to_string(version) +
                      " is newer than this parallax (" + std::to_string(kSchemaVersion) +
                      "); use a newer parallax");
  } else if (app != 0) {
    throw UserError(path_ + ": an SQLite database of another program (application_id " +
                    std::to_string(app) + "); move it away and run again; parallax will not " +
                    "overwrite it");
  } else if (objects > 0 || version != 0) {
    // Our first migration sets application_id in the transaction that creates the tables, so a
    // file without it that holds anything is not ours.
    throw UserError(path_ + ": an SQLite database of another program (it has tables but no " +
                    "parallax application_id); move it away and run again; parallax will not " +
                    "overwrite it");
  }
  if (sqlite3_db_readonly(db_, "main") == 1)
    throw UserError(path_ + ": the results database is read-only; make it and its folder writable");
}

void ResultsDb::migrate() {
  if (query_int(db_, path_, "PRAGMA user_version") >= kSchemaVersion) return;
  for (;;) {
    // IMMEDIATE takes the write lock first: two processes creating the file at once migrate it
    // one after the other, and the second finds the version already raised.
    Transaction tx(db_, path_, "BEGIN IMMEDIATE");
    const int64_t version = query_int(db_, path_, "PRAGMA user_version");
    if (version >= kSchemaVersion) {
      tx.commit();
      return;
    }
    if (version == 0)
      exec_sql(db_, path_, "PRAGMA application_id = " + std::to_string(kApplicationId));
    exec_sql(db_, path_, kMigrations[version]);
    exec_sql(db_, path_, "PRAGMA user_version = " + std::to_string(version + 1));
    tx.commit();
  }
}

}  // namespace parallax
