// A language model as a user runs one: gpt on synthetic text learns (the validation loss falls far
// below ln(vocabulary)), stops at --target-loss, and its summary gives tokens/s, the validation
// loss, perplexity and bits per token, FLOPs per token and MFU; vocabulary.json says what tokens
// stand for. Mismatched models and data are one line, exit 2.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>

#include "test_paths.h"
#include "test_util.h"

namespace parallax {
namespace {

using testing::run_command;

const std::string kTinyGpt =
    " train --model gpt-mini --layers 2 --width 64 --heads 2 --context 32 --dataset "
    "synthetic-text --synthetic-train 512 --synthetic-test 64 --batch-size 16 --optimizer adam "
    "--lr 3e-3 --weight-decay 0 --threads 1 --timing-warmup 2 --no-trace";

TEST(LanguageModel, LearnsAndItsSummaryGivesTokensPerplexityAndMfu) {
  testing::TempDir dir;
  const auto r = run_command(std::string(PARALLAX_BINARY) + kTinyGpt +
                             " --epochs 4 --steps 120 --target-loss 1.5 --out " + (dir / "run"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto s = nlohmann::json::parse(testing::read_text(dir / "run/summary.json"));
  EXPECT_EQ(s["task"], "language_model");
  const auto& lm = s["language_model"];
  const double loss = lm["validation_loss"].get<double>();
  // ln(65) = 4.17 at chance; the learnable sequence's entropy is about 0.98 nats.
  EXPECT_LT(loss, 1.5);
  EXPECT_GT(loss, 0.8);
  EXPECT_NEAR(lm["perplexity"].get<double>(), std::exp(loss), 1e-9);
  EXPECT_NEAR(lm["bits_per_token"].get<double>(), loss / std::log(2.0), 1e-9);
  EXPECT_EQ(lm["context"], 32);
  EXPECT_EQ(lm["token"], "token");
  // Stopped at the target: before the 4th epoch's end.
  EXPECT_GT(s["epochs_to_target"].get<int>(), 0);
  EXPECT_LT(s["epochs"].get<int>(), 4);
  EXPECT_NEAR(s["tokens_per_sec"].get<double>(), 32 * s["images_per_sec"].get<double>(), 1e-6);
  const auto& f = s["flops"];
  const double l = 2, d = 64, t = 32, n = l * 12 * d * d + 65 * d;
  EXPECT_DOUBLE_EQ(f["training_flops_per_token"].get<double>(), 6 * n + 12 * l * d * t);
  EXPECT_GT(f["peak_flops_per_rank"].get<double>(), 0);
  EXPECT_GT(f["mfu"].get<double>(), 0);
  EXPECT_NE(f["peak_source"].get<std::string>().find("measured"), std::string::npos);
  const auto v = nlohmann::json::parse(testing::read_text(dir / "run/vocabulary.json"));
  EXPECT_EQ(v["size"], 65);
  EXPECT_EQ(v["token"], "token");
  // epochs.csv: the validation loss per epoch, falling.
  const std::string csv = testing::read_text(dir / "run/epochs.csv");
  EXPECT_NE(csv.find("test_loss"), std::string::npos);
}

TEST(LanguageModel, ModelsAndDataThatDoNotMatchAreOneLine) {
  for (const auto& [args, needle] : std::vector<std::pair<std::string, std::string>>{
           {" train --model gpt-mini --dataset synthetic", "language model"},
           {" train --model resnet20 --dataset synthetic-text", "classifies images"},
           {" train --model gpt-mini --dataset text", "--data-dir"},
           {" train --model gpt-mini --dataset synthetic-text --target-accuracy 0.5",
            "--target-loss"},
           {" train --model resnet20 --target-loss 1", "--target-accuracy"}}) {
    const auto r = run_command(std::string(PARALLAX_BINARY) + args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }
}

}  // namespace
}  // namespace parallax
