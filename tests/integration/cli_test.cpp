// The parallax binary as a user meets it: help, bad input (one line, exit 2), a real short run.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>

#include "test_paths.h"
#include "test_util.h"

namespace parallax {
namespace {

using testing::run_command;

int lines_of(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// Expects exit code 2 and exactly one line that names `needle`.
void expect_user_error(const std::string& args, const std::string& needle) {
  const auto r = run_command(std::string(PARALLAX_BINARY) + " " + args);
  EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
  EXPECT_EQ(lines_of(r.output), 1) << args << "\n" << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << args << "\n" << r.output;
}

TEST(Cli, HelpExplainsEveryTrainOption) {
  const auto r = run_command(std::string(PARALLAX_BINARY) + " train --help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* opt :
       {"--model", "--dataset", "--data-dir", "--batch-size", "--epochs", "--steps",
        "--target-accuracy", "--lr", "--momentum", "--weight-decay", "--nesterov", "--optimizer",
        "--lr-schedule", "--warmup", "--seed", "--threads", "--device", "--out", "--resume",
        "--beta1", "--beta2", "--grad-clip", "adamw"})
    EXPECT_NE(r.output.find(opt), std::string::npos) << opt;
}

TEST(Cli, BadInputIsOneLineAndExitCode2) {
  expect_user_error("train --model resnet7", "--model");
  expect_user_error("train --batch-size 0", "--batch-size");
  expect_user_error("train --lr -0.1", "--lr");
  expect_user_error("train --grad-clip -1", "--grad-clip");
  expect_user_error("train --optimizer adamw --beta1 1", "--beta1");
  expect_user_error("train --optimizer adamw --beta2 -0.5", "--beta2");
  expect_user_error("train --epochs abc", "--epochs");
  expect_user_error("train --dataset cifar10 --data-dir /nonexistent/cifar", "/nonexistent/cifar");
  expect_user_error("train --device cuda --model resnet20", "--device cuda");
  expect_user_error("train --resume /nonexistent/run", "/nonexistent/run");
  expect_user_error("data info /nonexistent/file", "/nonexistent/file");
  expect_user_error("frobnicate", "frobnicate");
  expect_user_error("train --strategy zero --zero-stage 3 --verify-replicas --nproc 2",
                    "--verify-replicas");
  expect_user_error("train --strategy zero --zero-stage 2 --buckets-in-flight 0 --nproc 2",
                    "--buckets-in-flight");
}

TEST(Cli, PlanMemoryPredictsEveryStrategyAndWritesParsableRows) {
  testing::TempDir dir;
  const std::string json = dir / "plan.json";
  const auto r = run_command(std::string(PARALLAX_BINARY) +
                             " plan --memory --model resnet20 --image-size 16 --batch-size 16 "
                             "--world 2 --balance params --json " +
                             json);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto rows = nlohmann::json::parse(testing::read_text(json))["rows"];
  std::map<std::string, nlohmann::json> by_label;
  for (const auto& row : rows)
    by_label[row["label"].get<std::string>() + "/" + std::to_string(row["rank"].get<int>())] = row;
  for (const char* label :
       {"single/-1", "ddp nproc 2/-1", "zero-1 nproc 2/-1", "zero-2 nproc 2/-1",
        "zero-3 nproc 2/-1", "model nproc 2/0", "pipeline gpipe m8/1", "pipeline 1f1b m8/0"})
    ASSERT_TRUE(by_label.count(label)) << label << "\n" << r.output;
  auto bytes = [&](const char* label, const char* kind) {
    return by_label[label]["predicted_memory"][kind].get<int64_t>();
  };
  // ZeRO-3 holds half the parameters, ZeRO-1 half the optimizer state; 1F1B's first stage fewer
  // activations than GPipe's.
  EXPECT_NEAR(2.0 * bytes("zero-3 nproc 2/-1", "parameters"), bytes("ddp nproc 2/-1", "parameters"),
              0.02 * bytes("ddp nproc 2/-1", "parameters"));
  EXPECT_LT(bytes("zero-1 nproc 2/-1", "optimizer_state"),
            bytes("ddp nproc 2/-1", "optimizer_state"));
  EXPECT_LT(bytes("pipeline 1f1b m8/0", "activations"),
            bytes("pipeline gpipe m8/0", "activations"));
  expect_user_error("plan --memory --world 0", "--world");
}

TEST(Cli, ShortRunWritesParsableRunFilesAndRefusesToOverwrite) {
  testing::TempDir dir;
  const std::string out = dir / "run";
  const std::string cmd = std::string(PARALLAX_BINARY) +
                          " train --model resnet20 --image-size 16 --synthetic-train 128 "
                          "--synthetic-test 64 --epochs 1 --threads 1 --out " +
                          out;
  const auto r = run_command(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto summary = nlohmann::json::parse(testing::read_text(out + "/summary.json"));
  EXPECT_EQ(summary["strategy"], "single");
  EXPECT_EQ(summary["world_size"], 1);
  EXPECT_EQ(summary["steps"], 4);
  EXPECT_EQ(summary["allocator"], "tcmalloc");
  EXPECT_EQ(lines_of(testing::read_text(out + "/steps.csv")), 1 + 4);
  EXPECT_EQ(lines_of(testing::read_text(out + "/epochs.csv")), 1 + 1);
  EXPECT_NE(r.output.find("epoch 1/1"), std::string::npos) << r.output;

  const auto again = run_command(cmd);
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.output.find("--resume"), std::string::npos) << again.output;
}

}  // namespace
}  // namespace parallax
