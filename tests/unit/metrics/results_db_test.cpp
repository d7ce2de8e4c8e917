// Results database: round trips, schema marks, ordering, crash safety and concurrent writers.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include "metrics/results_db.h"
#include "test_util.h"
#include "unit/metrics/results_db_test_util.h"

namespace parallax {
namespace {

using nlohmann::json;
using testing::query;

RunRecord sample_run(const std::string& name, double started_at, int epochs) {
  RunRecord r;
  r.name = name;
  r.dir = "/runs/" + name;
  r.suite = "scaling";
  r.label = "ddp nproc 2";
  r.repeat = 1;
  r.status = "finished";
  r.note = "cifar10 absent: synthetic stand-in of the same shape";
  r.host = "vm";
  r.git_revision = "abc1234";
  r.started_at = started_at;
  r.finished_at = started_at + 0.1 + 0.2;  // not a short decimal: doubles must round-trip
  r.config = {{"strategy", "ddp"}, {"model", "resnet18"}, {"batch_size", 32}, {"lr", 0.05}};
  r.summary = {{"strategy", "ddp"},
               {"model", {{"name", "resnet18"}, {"parameters", 11173962}}},
               {"dataset", {{"name", "synthetic"}, {"train_images", 480}}},
               {"world_size", 2},
               {"config", r.config},
               {"images_per_sec", 1.0 / 3.0},
               {"train_time_s", 4.039041267},
               {"test_accuracy", 0.1875},
               {"ranks", json::parse(R"([
                 {"rank": 0, "param_bytes": 94114088, "grad_bytes": 94114088,
                  "optimizer_state_bytes": 94114088, "peak_memory_bytes": 540884992,
                  "peak_memory_kind": "process peak RSS"},
                 {"rank": 1, "param_bytes": 5779712, "grad_bytes": 5779712,
                  "optimizer_state_bytes": 0, "peak_memory_bytes": 465059840,
                  "peak_memory_kind": "process peak RSS"}])")}};
  for (int e = 0; e < epochs; ++e) {
    EpochRow row;
    row.epoch = e;
    row.steps = 8 * (e + 1);
    row.train_loss = 25.807616859674454 / (e + 1);
    row.train_accuracy = 0.1 * (e + 1);
    row.test_loss = 974892992.0 + e;
    row.test_accuracy = 1.0 / 3.0;
    row.train_time_s = 4.03904127 + e;
    row.eval_time_s = 1e-300;
    row.images_per_sec = 29.7100208;
    row.lr = 0.00190301169;
    row.elapsed_train_s = 4.03904127 * (e + 1);
    r.epochs.push_back(row);
  }
  return r;
}

// Every field, doubles compared exactly (stored as REAL, never as text).
auto fields_of(const RunRecord& r) {
  return std::make_tuple(r.name, r.dir, r.suite, r.label, r.repeat, r.status, r.error, r.note,
                         r.host, r.git_revision, r.started_at, r.finished_at, r.config.dump(),
                         r.summary.dump());
}
auto fields_of(const EpochRow& e) {
  return std::make_tuple(e.epoch, e.steps, e.train_loss, e.train_accuracy, e.test_loss,
                         e.test_accuracy, e.train_time_s, e.eval_time_s, e.images_per_sec, e.lr,
                         e.elapsed_train_s);
}

void expect_same(const RunRecord& a, const RunRecord& b) {
  EXPECT_EQ(fields_of(a), fields_of(b));
  EXPECT_EQ(a.config, b.config);
  EXPECT_EQ(a.summary, b.summary);
  ASSERT_EQ(a.epochs.size(), b.epochs.size());
  for (size_t i = 0; i < a.epochs.size(); ++i)
    EXPECT_EQ(fields_of(a.epochs[i]), fields_of(b.epochs[i])) << "epoch " << i;
}

TEST(ResultsDb, PutThenGetAndAllReturnEveryFieldExactly) {
  testing::TempDir dir;
  const std::string path = results_db_path(dir.path());
  EXPECT_EQ(path, dir.path() + "/results.sqlite");
  const RunRecord a = sample_run("a", 1795602739.123456789, 3);
  ResultsDb db(path);
  db.put(a);
  const auto got = db.get("a");
  ASSERT_TRUE(got.has_value());
  expect_same(*got, a);
  const auto all = db.all();
  ASSERT_EQ(all.size(), 1u);
  expect_same(all[0], a);
  EXPECT_FALSE(db.get("b").has_value());
}

TEST(ResultsDb, ExtractsFiguresIntoColumnsForPlainSqlite3) {
  testing::TempDir dir;
  const std::string path = results_db_path(dir.path());
  ResultsDb db(path);
  db.put(sample_run("a", 100, 3));
  EXPECT_EQ(query(path, "SELECT strategy || ' ' || model || ' ' || dataset FROM runs"),
            "ddp resnet18 synthetic");
  EXPECT_EQ(query(path, "SELECT world_size * 1000 + batch_size FROM runs"), "2032");
  EXPECT_EQ(query(path, "SELECT images_per_sec = 1.0 / 3.0 FROM runs"), "1");
  EXPECT_EQ(query(path, "SELECT train_time_s FROM runs"), "4.039041267");
  EXPECT_EQ(query(path, "SELECT test_accuracy FROM runs"), "0.1875");
  EXPECT_EQ(query(path, "SELECT count(*) FROM epochs WHERE run_name = 'a'"), "3");
  EXPECT_EQ(query(path,
                  "SELECT group_concat(rank || ':' || peak_memory_bytes || ':' || "
                  "optimizer_state_bytes, ' ') FROM (SELECT * FROM ranks ORDER BY rank)"),
            "0:540884992:94114088 1:465059840:0");
  EXPECT_EQ(query(path, "SELECT json_extract(figures_json, '$.peak_memory_kind') FROM ranks"),
            "process peak RSS");

  // A failed run has no summary: figures are NULL, what the config asked for is still there.
  RunRecord failed = sample_run("f", 200, 0);
  failed.status = "failed";
  failed.summary = json::object();
  db.put(failed);
  EXPECT_EQ(query(path,
                  "SELECT strategy || ' ' || batch_size || ' ' || "
                  "(images_per_sec IS NULL) || (world_size IS NULL) FROM runs "
                  "WHERE name = 'f'"),
            "ddp 32 11");
  EXPECT_EQ(query(path, "SELECT count(*) FROM ranks WHERE run_name = 'f'"), "0");
}

TEST(ResultsDb, PutWithTheSameNameReplacesTheRunAndItsEpochs) {
  testing::TempDir dir;
  const std::string path = results_db_path(dir.path());
  ResultsDb db(path);
  db.put(sample_run("a", 100, 3));
  db.put(sample_run("other", 50, 2));
  RunRecord again = sample_run("a", 300, 1);
  again.summary["ranks"] = json::array({{{"rank", 0}, {"param_bytes", 7}}});
  db.put(again);
  EXPECT_EQ(query(path, "SELECT count(*) FROM runs"), "2");
  EXPECT_EQ(query(path, "SELECT count(*) FROM epochs WHERE run_name = 'a'"), "1");
  EXPECT_EQ(query(path, "SELECT count(*) FROM epochs WHERE run_name = 'other'"), "2");
  EXPECT_EQ(query(path, "SELECT group_concat(param_bytes) FROM ranks WHERE run_name = 'a'"), "7");
  expect_same(*db.get("a"), again);
}

TEST(ResultsDb, AllIsOrderedByStartThenName) {
  testing::TempDir dir;
  ResultsDb db(results_db_path(dir.path()));
  db.put(sample_run("late", 300, 1));
  db.put(sample_run("b", 100, 2));
  db.put(sample_run("a", 100, 0));
  std::vector<std::string> names;
  for (const auto& r : db.all()) names.push_back(r.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "late"}));
  EXPECT_EQ(db.all()[1].epochs.size(), 2u);
}

TEST(ResultsDb, HasFinishedOnlyForFinishedRuns) {
  testing::TempDir dir;
  ResultsDb db(results_db_path(dir.path()));
  RunRecord failed = sample_run("f", 1, 0);
  failed.status = "failed";
  db.put(failed);
  db.put(sample_run("ok", 2, 1));
  EXPECT_TRUE(db.has_finished("ok"));
  EXPECT_FALSE(db.has_finished("f"));
  EXPECT_FALSE(db.has_finished("absent"));
}

TEST(ResultsDb, DivergedLossRoundTripsAsNan) {
  testing::TempDir dir;
  ResultsDb db(results_db_path(dir.path()));
  RunRecord r = sample_run("nan", 1, 1);
  r.epochs[0].train_loss = std::nan("");
  r.epochs[0].test_loss = INFINITY;
  db.put(r);
  const RunRecord got = *db.get("nan");
  EXPECT_TRUE(std::isnan(got.epochs[0].train_loss));
  EXPECT_EQ(got.epochs[0].test_loss, INFINITY);
  EXPECT_EQ(got.epochs[0].lr, r.epochs[0].lr);
}

TEST(ResultsDb, NewFileCarriesOurIdSchemaVersionAndWal) {
  testing::TempDir dir;
  const std::string path = results_db_path(dir.path());
  { ResultsDb db(path); }
  EXPECT_EQ(query(path, "PRAGMA application_id"), std::to_string(0x50524C58));
  EXPECT_EQ(query(path, "PRAGMA user_version"), std::to_string(ResultsDb::kSchemaVersion));
  EXPECT_EQ(query(path, "PRAGMA journal_mode"), "wal");
  // Opening again neither migrates twice nor loses anything.
  ResultsDb db(path);
  db.put(sample_run("a", 1, 1));
  ResultsDb second(path);  // another process's connection, in effect
  EXPECT_TRUE(second.has_finished("a"));
}

TEST(ResultsDb, ProcessKilledBeforeCommitLeavesOnlyWholeRuns) {
  testing::TempDir dir;
  const std::string path = results_db_path(dir.path());
  const RunRecord a = sample_run("a", 1, 3);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child must never return into the test runner.
    try {
      ResultsDb db(path);
      db.put(a);
      db.set_before_commit([] { ::raise(SIGKILL); });
      db.put(sample_run("b", 2, 3));
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exit code " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  ResultsDb db(path);
  const auto got = db.get("a");
  ASSERT_TRUE(got.has_value());
  expect_same(*got, a);
  EXPECT_FALSE(db.get("b").has_value());
  EXPECT_EQ(db.all().size(), 1u);
  EXPECT_EQ(query(path, "SELECT count(*) FROM epochs WHERE run_name = 'b'"), "0");
  EXPECT_EQ(query(path, "SELECT count(*) FROM ranks WHERE run_name = 'b'"), "0");
  EXPECT_EQ(query(path, "PRAGMA integrity_check"), "ok");
}

TEST(ResultsDb, ProcessesCreatingAndWritingAtOnceAllLand) {
  // Rank 0 of a run and the bench runner may create and write the same file at the same moment;
  // several fresh files make the race of creating it likely to happen at least once.
  for (int file = 0; file < 4; ++file) {
    testing::TempDir dir;
    const std::string path = results_db_path(dir.path());
    std::vector<pid_t> children;
    for (int child = 0; child < 3; ++child) {
      const pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        try {
          ResultsDb db(path);
          for (int i = 0; i < 10; ++i)
            db.put(sample_run("c" + std::to_string(child) + "_" + std::to_string(i), i, 2));
        } catch (const std::exception& e) {
          std::fprintf(stderr, "child %d: %s\n", child, e.what());
          ::_exit(3);
        }
        ::_exit(0);
      }
      children.push_back(pid);
    }
    for (const pid_t pid : children) {
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child failed: " << status;
    }
    ResultsDb db(path);
    EXPECT_EQ(db.all().size(), 30u);
    EXPECT_EQ(query(path, "SELECT count(*) FROM epochs"), "60");
  }
}

TEST(ResultsDb, HookThatThrowsRollsThePutBack) {
  testing::TempDir dir;
  ResultsDb db(results_db_path(dir.path()));
  db.put(sample_run("a", 1, 2));
  db.set_before_commit([] { throw std::runtime_error("disk gone"); });
  EXPECT_THROW(db.put(sample_run("a", 9, 1)), std::runtime_error);
  db.set_before_commit(nullptr);
  EXPECT_EQ(db.get("a")->started_at, 1);
  EXPECT_EQ(db.get("a")->epochs.size(), 2u);
}

}  // namespace
}  // namespace parallax
