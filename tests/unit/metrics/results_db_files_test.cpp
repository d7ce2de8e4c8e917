// Results database files: refusals of files that are not ours, and the import of run folders.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "metrics/results_db.h"
#include "metrics/run_import.h"
#include "test_util.h"
#include "unit/metrics/results_db_test_util.h"

namespace parallax {
namespace {

namespace fs = std::filesystem;
using testing::query;

void make_sqlite(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sql;
  sqlite3_close(db);
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

// Opening path must throw a UserError naming it and containing needle, leaving it byte for byte.
void expect_refused(const std::string& path, const std::string& needle) {
  const std::string before = testing::read_text(path);
  ASSERT_FALSE(before.empty());
  testing::expect_user_error([&] { ResultsDb db(path); }, {path, needle});
  EXPECT_EQ(testing::read_text(path), before);
  EXPECT_FALSE(fs::exists(path + "-wal"));
}

TEST(ResultsDb, RefusesATextFileAndLeavesItAlone) {
  testing::TempDir dir;
  const std::string path = results_db_path(dir.path());
  write_file(path, "these are my notes, not a database\n");
  expect_refused(path, "not a parallax results database");
}

TEST(ResultsDb, RefusesAnotherProgramsTables) {
  testing::TempDir dir;
  const std::string path = results_db_path(dir.path());
  make_sqlite(path, "CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('ada');");
  expect_refused(path, "another program");
}

TEST(ResultsDb, RefusesAnotherApplicationId) {
  testing::TempDir dir;
  const std::string path = results_db_path(dir.path());
  // Even a table named like ours does not make a file with another application_id ours.
  make_sqlite(path, "PRAGMA application_id = 1234; CREATE TABLE runs (x);");
  expect_refused(path, "application_id 1234");
}

TEST(ResultsDb, RefusesANewerSchema) {
  testing::TempDir dir;
  const std::string path = results_db_path(dir.path());
  make_sqlite(path, "PRAGMA application_id = " + std::to_string(ResultsDb::kApplicationId) +
                        "; PRAGMA user_version = 99; CREATE TABLE runs (x);");
  expect_refused(path, "schema version 99 is newer than this parallax (1)");
}

TEST(ResultsDb, RefusesAMissingFolder) {
  testing::TempDir dir;
  const std::string path = results_db_path(dir / "absent");
  testing::expect_user_error([&] { ResultsDb db(path); }, {path});
  EXPECT_FALSE(fs::exists(dir / "absent"));
}

// Small copies of a real run directory (tests never read fixtures outside their TempDir).
const char kConfigJson[] = R"({"batch_size": 15, "dataset": "synthetic", "epochs": 3,
  "model": "resnet50", "strategy": "single", "nproc": 1})";
const char kSummaryJson[] = R"({"config": {"batch_size": 15, "strategy": "single"},
  "finished_at": 1795602739, "host": "vm", "git_revision": "0123abc",
  "images_per_sec": 32.26282428875668, "model": {"name": "resnet50", "parameters": 23528522},
  "dataset": {"name": "synthetic"}, "strategy": "single", "test_accuracy": 0.1875,
  "train_time_s": 4.039041267, "world_size": 1,
  "ranks": [{"grad_bytes": 94114088, "optimizer_state_bytes": 94114088,
             "param_bytes": 94114088, "peak_memory_bytes": 540884992, "rank": 0}]})";
const char kEpochsCsv[] =
    "epoch,steps,train_loss,train_accuracy,test_loss,test_accuracy,train_time_s,eval_time_s,"
    "images_per_sec,lr,elapsed_train_s\n"
    "0,8,25.8076169,0.15,974892992,0.1875,4.03904127,0.204117297,29.7100208,0.00190301169,"
    "4.03904127\n"
    "1,16,2.5,0.25,2.25,0.3125,4,0.2,30,0.001,8.03904127\n";

TEST(ResultsDb, ImportsFinishedAndCrashedRunsOnce) {
  testing::TempDir runs;
  fs::create_directories(runs / "single");
  write_file(runs / "single/config.json", kConfigJson);
  write_file(runs / "single/summary.json", kSummaryJson);
  write_file(runs / "single/epochs.csv", kEpochsCsv);
  write_file(runs / "single/steps.csv", "step,epoch\n0,0\n");
  write_file(runs / "single/suite.json",
             R"({"suite": "smoke", "label": "single batch 15", "repeat": 2, "note": "n"})");
  fs::create_directories(runs / "crashed");
  write_file(runs / "crashed/config.json", kConfigJson);
  fs::create_directories(runs / "not_a_run");  // no config.json
  fs::create_directories(runs / ".tmp-run");
  write_file(runs / ".tmp-run/config.json", kConfigJson);

  ResultsDb db(results_db_path(runs.path()));
  EXPECT_EQ(import_missing_runs(db, runs.path()), (std::vector<std::string>{"crashed", "single"}));

  const RunRecord single = *db.get("single");
  EXPECT_EQ(single.status, "finished");
  EXPECT_EQ(single.error, "");
  EXPECT_EQ(single.suite, "smoke");
  EXPECT_EQ(single.label, "single batch 15");
  EXPECT_EQ(single.repeat, 2);
  EXPECT_EQ(single.note, "n");
  EXPECT_EQ(single.host, "vm");
  EXPECT_EQ(single.git_revision, "0123abc");
  EXPECT_EQ(single.dir, fs::path(runs / "single").lexically_normal().string());
  EXPECT_EQ(single.finished_at, 1795602739);
  EXPECT_EQ(single.started_at, 1795602739 - 4.039041267);
  EXPECT_EQ(single.config["model"], "resnet50");
  EXPECT_EQ(single.summary["images_per_sec"], 32.26282428875668);
  ASSERT_EQ(single.epochs.size(), 2u);
  EXPECT_EQ(single.epochs[0].steps, 8);
  EXPECT_EQ(single.epochs[0].test_loss, 974892992);
  EXPECT_EQ(single.epochs[0].lr, 0.00190301169);
  EXPECT_EQ(single.epochs[1].epoch, 1);
  EXPECT_EQ(single.epochs[1].elapsed_train_s, 8.03904127);

  const RunRecord crashed = *db.get("crashed");
  EXPECT_EQ(crashed.status, "failed");
  EXPECT_EQ(crashed.error, "no summary.json: the run stopped before it finished");
  EXPECT_EQ(crashed.suite, "");
  EXPECT_TRUE(crashed.summary.empty());
  EXPECT_TRUE(crashed.epochs.empty());
  EXPECT_GT(crashed.started_at, 0);  // config.json's time, so that it sorts among the others
  EXPECT_EQ(query(results_db_path(runs.path()),
                  "SELECT model || ' ' || batch_size FROM runs WHERE name = 'crashed'"),
            "resnet50 15");

  EXPECT_TRUE(import_missing_runs(db, runs.path()).empty());
  EXPECT_EQ(db.all().size(), 2u);
}

TEST(ResultsDb, ReimportsARunOnceItsFolderHasAFinishedSummary) {
  testing::TempDir runs;
  fs::create_directories(runs / "r");
  write_file(runs / "r/config.json", kConfigJson);
  // A trainer that writes summary.json after each epoch marks it running until the end.
  write_file(runs / "r/summary.json", R"({"status": "running", "host": "vm", "started_at": 5})");
  ResultsDb db(results_db_path(runs.path()));
  EXPECT_EQ(import_missing_runs(db, runs.path()), std::vector<std::string>{"r"});
  EXPECT_EQ(db.get("r")->status, "failed");
  EXPECT_EQ(db.get("r")->started_at, 5);
  EXPECT_TRUE(import_missing_runs(db, runs.path()).empty());

  write_file(runs / "r/summary.json", kSummaryJson);
  EXPECT_EQ(import_missing_runs(db, runs.path()), std::vector<std::string>{"r"});
  EXPECT_TRUE(db.has_finished("r"));
  EXPECT_TRUE(import_missing_runs(db, runs.path()).empty());
}

TEST(ResultsDb, EpochsCsvIsReadByHeaderNames) {
  testing::TempDir runs;
  fs::create_directories(runs / "r");
  write_file(runs / "r/config.json", kConfigJson);
  write_file(runs / "r/epochs.csv",
             "lr,epoch,new_figure,train_loss\r\n0.5,0,7,nan\r\n0.25,1,8,\r\n");
  const RunRecord r = read_run_dir(runs / "r/");  // a trailing slash names the same folder
  EXPECT_EQ(r.name, "r");
  ASSERT_EQ(r.epochs.size(), 2u);
  EXPECT_EQ(r.epochs[1].epoch, 1);
  EXPECT_EQ(r.epochs[1].lr, 0.25);
  EXPECT_TRUE(std::isnan(r.epochs[0].train_loss));
  EXPECT_EQ(r.epochs[1].train_loss, 0);
  EXPECT_EQ(r.epochs[1].steps, 0);  // column absent

  write_file(runs / "r/epochs.csv", "epoch,lr\n0,fast\n");
  testing::expect_user_error([&] { read_run_dir(runs / "r"); },
                             {runs / "r/epochs.csv", "line 2", "lr", "fast"});
}

TEST(ResultsDb, ReadRunDirNamesTheBadFile) {
  testing::TempDir runs;
  fs::create_directories(runs / "r");
  testing::expect_user_error([&] { read_run_dir(runs / "r"); }, {runs / "r", "config.json"});
  write_file(runs / "r/config.json", "{\"model\": ");
  testing::expect_user_error([&] { read_run_dir(runs / "r"); },
                             {runs / "r/config.json", "not valid JSON"});
  testing::expect_user_error(
      [&] {
        ResultsDb db(results_db_path(runs.path()));
        import_missing_runs(db, runs / "absent");
      },
      {runs / "absent"});
}

}  // namespace
}  // namespace parallax
