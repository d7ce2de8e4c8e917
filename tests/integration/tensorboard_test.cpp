// TensorBoard event files, read back by TensorBoard's own reader (the PyPI package in .venv): every
// scalar written is there, with the values the run's own tables hold.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <sstream>

#include "launcher_util.h"

namespace parallax {
namespace {

using testing::run_command;

// Rows of a CSV file as column name -> value, for the numeric columns.
std::vector<std::map<std::string, double>> csv_rows(const std::string& path) {
  std::istringstream in(testing::read_text(path));
  std::string line;
  std::getline(in, line);
  std::vector<std::string> names;
  for (std::istringstream h(line); std::getline(h, line, ',');) names.push_back(line);
  std::vector<std::map<std::string, double>> rows;
  while (std::getline(in, line)) {
    std::map<std::string, double> row;
    std::istringstream cells(line);
    std::string cell;
    for (size_t i = 0; i < names.size() && std::getline(cells, cell, ','); ++i)
      row[names[i]] = cell.empty() ? NAN : std::atof(cell.c_str());
    rows.push_back(row);
  }
  return rows;
}

// The scalars of a folder of event files, as TensorBoard reads them: tag -> [[step, value]...].
nlohmann::json tensorboard_scalars(const std::string& dir) {
  const auto r = run_command(testing::venv_python() + " " + PARALLAX_SOURCE_DIR +
                             "/tests/python/read_tensorboard.py " + dir + " 2>/dev/null");
  if (r.exit_code == 3) return nullptr;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return nlohmann::json::parse(r.output);
}

std::string train(const std::string& out, const std::string& extra) {
  return std::string(PARALLAX_BINARY) +
         " train --model resnet20 --image-size 16 --synthetic-train 96 --synthetic-test 32 "
         "--batch-size 16 --epochs 2 --threads 1 --timing-warmup 0 --out " +
         out + extra;
}

TEST(Tensorboard, ItsOwnReaderSeesEveryScalarWithTheRunsValues) {
  if (testing::venv_python().empty())
    GTEST_SKIP() << "no " PARALLAX_SOURCE_DIR
                    "/.venv: scripts/install-deps.sh --torch2 makes it "
                    "(with the tensorboard package)";
  testing::TempDir dir;
  const std::string ddp = dir / "ddp";
  auto r = run_command(train(ddp, " --strategy ddp --nproc 2 --tensorboard --log-every 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto s = tensorboard_scalars(ddp + "/tb");
  if (s.is_null())
    GTEST_SKIP() << "the tensorboard package is not in .venv: pip install tensorboard";

  // Per step, every --log-every 2 steps: 12 steps -> 6 points each, at steps 2, 4, ... 12.
  const auto steps = csv_rows(ddp + "/steps.csv");
  ASSERT_EQ(steps.size(), 12u);
  for (const std::string tag :
       {"train/loss", "train/lr", "train/images_per_sec", "comm/hidden_fraction"}) {
    ASSERT_TRUE(s.contains(tag)) << tag << " missing from " << s.dump();
    ASSERT_EQ(s[tag].size(), 6u) << tag;
    for (size_t k = 0; k < 6; ++k) EXPECT_EQ(s[tag][k][0], 2 * (k + 1)) << tag;
  }
  for (size_t k = 0; k < 6; ++k) {
    const auto& row = steps[2 * k + 1];  // the step that brings the count to 2(k + 1)
    EXPECT_NEAR(s["train/loss"][k][1].get<double>(), row.at("loss"), 1e-6 * (1 + row.at("loss")));
    EXPECT_NEAR(s["train/lr"][k][1].get<double>(), row.at("lr"), 1e-7);
    EXPECT_NEAR(s["train/images_per_sec"][k][1].get<double>(), 16 / row.at("step_s"),
                1e-3 * 16 / row.at("step_s"));
    const double hidden = s["comm/hidden_fraction"][k][1];
    EXPECT_GE(hidden, 0.0);
    EXPECT_LE(hidden, 1.0);
  }
  // Per epoch, at the step that ended it: test accuracy and loss, and each rank's memory.
  const auto epochs = csv_rows(ddp + "/epochs.csv");
  ASSERT_EQ(epochs.size(), 2u);
  for (const std::string tag :
       {"test/accuracy", "test/loss", "train/epoch_loss", "memory/rank0/peak_bytes",
        "memory/rank1/peak_bytes", "memory/rank0/peak_rss_bytes", "memory/rank1/peak_rss_bytes"}) {
    ASSERT_TRUE(s.contains(tag)) << tag << " missing";
    ASSERT_EQ(s[tag].size(), 2u) << tag;
    EXPECT_EQ(s[tag][0][0], 6) << tag;
    EXPECT_EQ(s[tag][1][0], 12) << tag;
  }
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_NEAR(s["test/accuracy"][e][1].get<double>(), epochs[e].at("test_accuracy"), 1e-6);
    EXPECT_GT(s["memory/rank1/peak_bytes"][e][1].get<double>(), 0);
  }
  const auto summary = nlohmann::json::parse(testing::read_text(ddp + "/summary.json"));
  EXPECT_NEAR(s["memory/rank1/peak_bytes"][1][1].get<double>(),
              summary["ranks"][1]["memory_measured"]["peak"].get<double>(),
              1e-6 * summary["ranks"][1]["memory_measured"]["peak"].get<double>());

  // A pipeline's bubble, per step, into the folder given.
  const std::string pipe = dir / "pipe";
  r = run_command(train(pipe, " --strategy pipeline --nproc 2 --tensorboard " + (dir / "pipe-tb")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto p = tensorboard_scalars(dir / "pipe-tb");
  ASSERT_TRUE(p.contains("pipeline/bubble")) << p.dump();
  EXPECT_EQ(p["pipeline/bubble"].size(), 12u);
  for (const auto& point : p["pipeline/bubble"]) {
    EXPECT_GT(point[1].get<double>(), 0.0);
    EXPECT_LT(point[1].get<double>(), 1.0);
  }
  EXPECT_FALSE(p.contains("comm/hidden_fraction"));
}

TEST(Tensorboard, AnUnwritableFolderIsOneLine) {
  testing::TempDir dir;
  const auto r = run_command(train(dir / "run", " --tensorboard /proc/no"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--tensorboard /proc/no: cannot write event files there"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace parallax
