// `parallax plan` from the outside: bad input is one line and exit code 2; a real plan on two
// loopback ranks writes a plan.json that parses, with every strategy priced, and --check runs the
// chosen rows and records what they measured.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "distributed/torch_compat.h"
#include "process_util.h"
#include "test_paths.h"
#include "test_util.h"

namespace parallax {
namespace {

using testing::run_command;

// Exit code 2 and one line naming `needle`.
void expect_plan_error(const std::string& args, const std::string& needle) {
  const auto r = run_command(std::string(PARALLAX_BINARY) + " plan " + args);
  EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << "\n" << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << args << "\n" << r.output;
}

TEST(Plan, BadInputIsOneLineAndExitCode2) {
  testing::TempDir dir;
  const std::string small = " --model resnet20 --image-size 8 --out " + (dir / "p");
  expect_plan_error("--strategies ddp,pipelined" + small, "unknown strategy 'pipelined'");
  expect_plan_error("--world 7 --batch-size 30 --strategies ddp,zero" + small, "no strategy");
  expect_plan_error("--world 64" + small, "--link-bandwidth");
  expect_plan_error("--memory-per-rank 1" + small, "--memory-per-rank");
  expect_plan_error("--check some" + small, "--check some");
  expect_plan_error("--plan-recompute none,sometimes" + small, "unknown setting 'sometimes'");
  expect_plan_error("--plan-recompute selective" + small, "no attention core");
  expect_plan_error("--plan-recompute none --recompute full" + small, "give one of them");
  expect_plan_error("--device-profile /nonexistent/profile.json" + small,
                    "/nonexistent/profile.json");
}

TEST(Plan, TwoRanksPriceEveryStrategyAndCheckRunsTheTop) {
  testing::TempDir dir;
  const std::string out = dir / "plan";
  const auto r = run_command(std::string(PARALLAX_BINARY) +
                             " plan --model resnet20 --image-size 8 --batch-size 16 --world 2 "
                             "--check 1 --steps 2 --out " +
                             out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("plan: use "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("step time error over"), std::string::npos) << r.output;
  const auto plan = nlohmann::json::parse(testing::read_text(out + "/plan.json"));
  EXPECT_EQ(plan["scale"], "measured");
  std::set<std::string> strategies;
  double last = 0;
  for (const auto& row : plan["rows"]) {
    strategies.insert(row["strategy"].get<std::string>());
    const double s = row["predicted_step_s"].get<double>();
    EXPECT_GT(s, 0) << row.dump();
    EXPECT_GE(s, last) << "rows are ranked by predicted step time";
    last = s;
    EXPECT_GT(row["predicted_memory"]["peak"].get<double>(), 0);
    EXPECT_FALSE(row["reason"].get<std::string>().empty());
  }
  EXPECT_EQ(strategies, (std::set<std::string>{"single", "ddp", "zero", "model", "pipeline"}));
  // --check 1: the top row and a spread of two more, measured.
  ASSERT_GE(plan["checked"].size(), 2u);
  EXPECT_EQ(plan["checked"][0], plan["rows"][0]["label"]);
  int measured = 0;
  for (const auto& row : plan["rows"])
    if (row.contains("measured_step_s")) {
      ++measured;
      EXPECT_GT(row["measured_step_s"].get<double>(), 0);
      EXPECT_GT(row["measured_images_per_sec"].get<double>(), 0);
    }
  EXPECT_EQ(measured, static_cast<int>(plan["checked"].size()));
  // The profile it priced with is kept, and plans on paper from it: labelled a prediction.
  const auto paper = run_command(std::string(PARALLAX_BINARY) +
                                 " plan --model resnet20 --image-size 8 --batch-size 1024 "
                                 "--world 64 --strategies ddp --link-bandwidth 10 --link-latency 5 "
                                 "--device-profile " +
                                 out + "/profile.json --out " + (dir / "paper"));
  ASSERT_EQ(paper.exit_code, 0) << paper.output;
  const auto on_paper = nlohmann::json::parse(testing::read_text((dir / "paper") + "/plan.json"));
  EXPECT_EQ(on_paper["scale"], "prediction");
  EXPECT_NE(paper.output.find("a prediction for a machine not measured here"), std::string::npos);
}

// A transformer's plan has each recompute setting as a candidate, priced from block times and
// activations measured under it; --check runs each with its --recompute, and the allocator's
// peak falls as the prediction says.
TEST(Plan, ATransformersPlanPricesEveryRecomputeSetting) {
  testing::TempDir dir;
  const std::string out = dir / "plan";
  const auto r = run_command(std::string(PARALLAX_BINARY) +
                             " plan --model gpt-mini --layers 2 --heads 2 --width 32 --context 32 "
                             "--dataset synthetic-text --vocab 64 --text-windows 64 "
                             "--eval-windows 8 --batch-size 8 --world 1 --check all "
                             "--check-rounds 1 --steps 2 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto plan = nlohmann::json::parse(testing::read_text(out + "/plan.json"));
  std::map<std::string, nlohmann::json> by_setting;
  for (const auto& row : plan["rows"]) by_setting[row["recompute"].get<std::string>()] = row;
  ASSERT_EQ(by_setting.size(), 3u) << plan.dump();
  auto predicted = [&](const std::string& mode, const char* kind) {
    return by_setting.at(mode)["predicted_memory"][kind].get<double>();
  };
  auto measured = [&](const std::string& mode) {
    return by_setting.at(mode)["measured_peak_bytes"].get<double>();
  };
  // Full keeps each block's input only. Selective drops the attention core's [tokens x tokens]
  // weights where attention is the explicit form (LibTorch 1.13); the fused kernel of 2.x keeps
  // none to begin with, so there it holds what it would have held (q, k and v in place of the
  // kernel's own saved tensors).
  EXPECT_LT(predicted("full", "activations"), 0.5 * predicted("none", "activations"));
  if (compat::kHasFusedAttention)
    EXPECT_NEAR(predicted("selective", "activations"), predicted("none", "activations"),
                0.02 * predicted("none", "activations"));
  else
    EXPECT_LT(predicted("selective", "activations"), predicted("none", "activations"));
  EXPECT_GT(predicted("selective", "activations"), predicted("full", "activations"));
  EXPECT_LT(predicted("full", "peak"), predicted("none", "peak"));
  EXPECT_EQ(by_setting.at("full")["label"], "single recompute full");
  const auto args = by_setting.at("full")["options"]["train_args"].dump();
  EXPECT_NE(args.find("\"--recompute\",\"full\""), std::string::npos) << args;
  // Each ran, and the allocator's peak falls with full recomputation.
  for (const auto& mode : {"none", "selective", "full"}) EXPECT_GT(measured(mode), 0) << mode;
  EXPECT_LT(measured("full"), measured("none"));
}

// The lines of `output` that say "interrupted".
int interrupted_lines(const std::string& output) {
  std::istringstream in(output);
  int n = 0;
  for (std::string line; std::getline(in, line);)
    n += line.find("interrupted") != std::string::npos;
  return n;
}

std::string small_plan(const std::string& out, const std::string& more = "") {
  return std::string(PARALLAX_BINARY) +
         " plan --model resnet20 --image-size 8 --batch-size 16 --world 2 --steps 2 " + more +
         " --out " + out;
}

// A terminal's Ctrl-C (SIGINT to plan's process group) once `marker` is printed: exit code 130
// and one line that says interrupted, in training's words nowhere.
testing::Child interrupt_plan_at(const std::string& command, const std::string& marker) {
  testing::Child c = testing::start(command, /*own_group=*/true);
  EXPECT_TRUE(testing::read_until(c, marker, 300)) << marker << "\n" << c.output;
  ::kill(-c.pid, SIGINT);
  EXPECT_EQ(testing::wait_exit(c), 130) << marker << "\n" << c.output;
  EXPECT_EQ(interrupted_lines(c.output), 1) << marker << "\n" << c.output;
  EXPECT_EQ(c.output.find("every rank stopped"), std::string::npos) << c.output;
  return c;
}

// Ctrl-C while the profiling ranks run (the launcher's handlers), and once they are done (plan's
// own again: the launcher puts back the handlers it found).
TEST(Plan, CtrlCStopsItWhileProfilingAndAfter) {
  testing::TempDir dir;
  interrupt_plan_at(small_plan(dir / "ranks"), "[rank 0]");
  EXPECT_FALSE(std::filesystem::exists(dir / "ranks/plan.json"));
  interrupt_plan_at(small_plan(dir / "after", "--check 1 --check-rounds 1"), "plan: wrote ");
}

// Ctrl-C in the second of three checks: the first is reported, the others are not (neither as
// failed nor as checked), no fastest is named from one row, and plan.json says it was stopped.
TEST(Plan, AnInterruptedCheckReportsOnlyWhatRan) {
  testing::TempDir dir;
  const std::string out = dir / "plan";
  const auto c = interrupt_plan_at(small_plan(out, "--check 1 --check-rounds 1"), "[2/3]");
  EXPECT_EQ(c.output.find("failed"), std::string::npos) << c.output;
  EXPECT_EQ(c.output.find("measured fastest"), std::string::npos) << c.output;
  const auto plan = nlohmann::json::parse(testing::read_text(out + "/plan.json"));
  EXPECT_EQ(plan.value("interrupted", false), true) << plan.dump(1);
  ASSERT_EQ(plan["checked"].size(), 1u) << plan.dump(1);
  int measured = 0;
  for (const auto& row : plan["rows"]) {
    EXPECT_FALSE(row.contains("check_error")) << row.dump();
    if (row.contains("measured_step_s")) {
      ++measured;
      EXPECT_EQ(row["label"], plan["checked"][0]);
      EXPECT_GT(row["measured_step_s"].get<double>(), 0);
    }
  }
  EXPECT_EQ(measured, 1);
}

}  // namespace
}  // namespace parallax
