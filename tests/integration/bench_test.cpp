// `parallax bench` and the results database as a user meets them: a suite that runs, records a
// failure and goes on, resumes without redoing finished runs; a training killed mid-run.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "metrics/results_db.h"
#include "test_paths.h"
#include "test_util.h"
#include "unit/report/fixture_runs.h"

namespace parallax {
namespace {

using testing::run_command;

// Tiny runs: ResNet-20 on 8x8 learnable data, 2 steps.
constexpr const char* kSuite = R"(suite: tiny
description: two strategies and one run that fails inside its ranks
defaults:
  model: resnet20
  image_size: 8
  synthetic_train: 64
  synthetic_test: 32
  batch_size: 16
  steps: 2
  threads: 1
  no_checkpoint: true
grid:
  strategy: [single, ddp, pipeline]
overrides:
  ddp: {nproc: 2}
  pipeline: {nproc: 2, split_size: 4, synthetic_train: 8}
)";

TEST(Bench, SuiteRecordsAFailureGoesOnAndResumesWithoutRedoingFinishedRuns) {
  testing::TempDir dir;
  { std::ofstream(dir / "tiny.yaml") << kSuite; }
  const std::string cmd = std::string(PARALLAX_BINARY) + " bench " + (dir / "tiny.yaml") +
                          " --no-report --runs " + (dir / "runs");
  auto r = run_command(cmd);
  // The pipeline's batch of 16 is larger than its 8 training images: found when the run starts
  // (not by the suite's checks), so the suite must record the failure and go on.
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("[1/3] single-synthetic_train64-r0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("FAILED"), std::string::npos) << r.output;

  ResultsDb db(results_db_path(dir / "runs"));
  const auto single = db.get("single-synthetic_train64-r0"),
             ddp = db.get("ddp-synthetic_train64-r0"),
             pipe = db.get("pipeline-synthetic_train8-r0");
  ASSERT_TRUE(single && ddp && pipe);
  EXPECT_EQ(single->status, "finished");
  EXPECT_EQ(ddp->status, "finished");
  EXPECT_EQ(ddp->summary["world_size"], 2);
  EXPECT_EQ(ddp->suite, "tiny");
  EXPECT_EQ(pipe->status, "failed");
  EXPECT_NE(pipe->error.find("--batch-size 16"), std::string::npos) << pipe->error;

  r = run_command(cmd);  // again: the two finished runs are skipped, the failed one retried
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("[1/3] single-synthetic_train64-r0: finished before, skipped"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("[2/3] ddp-synthetic_train64-r0: finished before, skipped"),
            std::string::npos)
      << r.output;
}

TEST(Bench, UnknownSuiteKeyIsRejectedBeforeAnythingRuns) {
  testing::TempDir dir;
  {
    std::ofstream(dir / "bad.yaml") << "suite: bad\ndefaults:\n  modle: resnet20\n"
                                       "grid:\n  strategy: [single]\n";
  }
  const auto r = run_command(std::string(PARALLAX_BINARY) + " bench " + (dir / "bad.yaml") +
                             " --runs " + (dir / "runs"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("bad.yaml:3"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("modle"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "runs"));
}

// Starts `parallax train ARGS` in its own process group; returns the pid and a pipe of its output.
pid_t start(const std::string& args, FILE** out) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    execl("/bin/sh", "sh", "-c", (std::string(PARALLAX_BINARY) + " train " + args).c_str(),
          nullptr);
    _exit(127);
  }
  close(fds[1]);
  *out = fdopen(fds[0], "r");
  return pid;
}

TEST(ResultsDb, TrainingKilledMidRunLeavesAReadableDatabase) {
  testing::TempDir dir;
  const std::string runs = dir / "runs";
  const std::string common =
      " --model resnet20 --image-size 8 --synthetic-train 64 --synthetic-test 32 "
      "--batch-size 16 --threads 1 --no-checkpoint";
  auto r = run_command(std::string(PARALLAX_BINARY) + " train" + common + " --epochs 1 --out " +
                       runs + "/done");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // The second run is killed once its first epoch is on disk (read from its output: no sleep).
  FILE* out = nullptr;
  const pid_t pid = start(common + " --epochs 1000 --out " + runs + "/killed", &out);
  ASSERT_GT(pid, 0);
  char line[4096];
  bool epoch_done = false;
  while (!epoch_done && std::fgets(line, sizeof(line), out))
    epoch_done = std::string(line).find("epoch 2/") != std::string::npos;
  ASSERT_TRUE(epoch_done);
  kill(-pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  std::fclose(out);

  {
    ResultsDb db(results_db_path(runs));
    const auto done = db.get("done");
    ASSERT_TRUE(done);
    EXPECT_EQ(done->status, "finished");
    EXPECT_EQ(done->epochs.size(), 1u);
    EXPECT_FALSE(db.get("killed"));  // never half a row
  }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(results_db_path(runs).c_str(), &raw), SQLITE_OK);
  std::string check;
  sqlite3_exec(
      raw, "PRAGMA integrity_check",
      [](void* s, int, char** v, char**) {
        *static_cast<std::string*>(s) = v[0];
        return 0;
      },
      &check, nullptr);
  sqlite3_close(raw);
  EXPECT_EQ(check, "ok");

  // The report imports the killed run's folder and shows it as stopped, not finished.
  r = run_command(std::string(PARALLAX_BINARY) + " report " + runs);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ResultsDb db(results_db_path(runs));
  const auto killed = db.get("killed");
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->status, "failed");
  EXPECT_TRUE(std::filesystem::exists(runs + "/report/report.html"));
}

TEST(Report, FromAFixtureDatabaseEveryChartIsDrawnWithItsReading) {
  testing::TempDir dir;
  const std::string runs = dir / "runs";
  std::filesystem::create_directories(runs);
  {
    ResultsDb db(results_db_path(runs));
    for (const auto& r : testing::fixture_runs()) db.put(r);
  }
  const auto r =
      run_command(std::string(PARALLAX_BINARY) + " report " + runs + " -o " + (dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string html = testing::read_text(dir / "out/report.html");
  for (const char* chart : {"execution_time", "split_size", "epoch_time", "time_to_target",
                            "curves_epoch", "curves_time", "scaling", "breakdown", "memory"}) {
    EXPECT_NE(html.find(std::string("charts/") + chart + ".png"), std::string::npos) << chart;
    EXPECT_GT(std::filesystem::file_size(dir / ("out/charts/" + std::string(chart) + ".png")),
              1000u)
        << chart;
  }
  EXPECT_NE(html.find("pipeline with split size 20 is 1.6x naive model parallel"),
            std::string::npos);
  EXPECT_NE(html.find("Gloo connection closed by peer"), std::string::npos);  // the failed run
}

TEST(Report, ACorruptDatabaseIsRefusedInOneLineAndLeftAsItWas) {
  testing::TempDir dir;
  const std::string runs = dir / "runs";
  std::filesystem::create_directories(runs);
  const std::string garbage(4096, 'x');
  { std::ofstream(results_db_path(runs)) << garbage; }
  const auto r = run_command(std::string(PARALLAX_BINARY) + " report " + runs);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find("results.sqlite"), std::string::npos) << r.output;
  EXPECT_EQ(testing::read_text(results_db_path(runs)), garbage);
}

}  // namespace
}  // namespace parallax
