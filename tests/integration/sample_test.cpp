// `parallax sample`: a trained run continues a prompt with what it learned (the argmax chain, the
// same at temperature 0 and top-k 1), draws are the seed's, characters decode by the run's
// vocabulary, and what it cannot sample from or encode is one line, exit 2.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "data/load_dataset.h"
#include "data/vocabulary.h"
#include "models/blocks.h"
#include "test_paths.h"
#include "test_util.h"
#include "train/run_model.h"

namespace parallax {
namespace {

using testing::run_command;

const std::string kSampleGpt =
    " train --model gpt-mini --layers 2 --heads 2 --width 32 --context 16 --batch-size 16 "
    "--optimizer adam --lr 3e-3 --weight-decay 0 --threads 1 --timing-warmup 1 "
    "--no-trace";

testing::CommandResult run_sample(const std::string& run, const std::string& options) {
  return run_command(std::string(PARALLAX_BINARY) + " sample " + run + " " + options);
}

std::vector<int64_t> token_numbers(const std::string& line) {
  std::istringstream in(line);
  std::vector<int64_t> out;
  for (int64_t t; in >> t;) out.push_back(t);
  return out;
}

// The likeliest next token, again and again, from the model alone (the last 16 tokens in view).
std::vector<int64_t> argmax_chain(ModelBlocks& model, std::vector<int64_t> tokens, int n) {
  model.eval();
  torch::NoGradGuard no_grad;
  while (n-- > 0) {
    const size_t from = tokens.size() > 16 ? tokens.size() - 16 : 0;
    const auto x = torch::tensor(std::vector<int64_t>(tokens.begin() + from, tokens.end()));
    tokens.push_back(model.forward(x.unsqueeze(0))[0][-1].argmax().item<int64_t>());
  }
  return tokens;
}

TEST(Sample, ALearnedRunContinuesThePromptWithTheSequenceItLearned) {
  testing::TempDir dir;
  const std::string run = dir / "run";
  auto r = run_command(std::string(PARALLAX_BINARY) + kSampleGpt +
                       " --dataset synthetic-text --vocab 12 --synthetic-train 256 "
                       "--synthetic-test 16 --epochs 8 --steps 120 --out " +
                       run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_sample(run, "--tokens 24 --prompt '3 5' --temperature 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<int64_t> tokens = token_numbers(r.output);
  ASSERT_EQ(tokens.size(), 2u + 24) << r.output;
  EXPECT_EQ(r.output.substr(0, 4), "3 5 ");
  const RunModel m = load_run_model(run);
  EXPECT_EQ(tokens, argmax_chain(*m.model, {3, 5}, 24));  // cropped to the context past 16
  // top-k 1 draws the likeliest token at any temperature.
  EXPECT_EQ(run_sample(run, "--tokens 24 --prompt '3 5' --top-k 1 --temperature 2").output,
            r.output);
  // What it learned: each token's successor in the training sequence (9 times in 10; each token's
  // most frequent follower), almost all the way.
  const Dataset data = load_dataset(m.config, 16);
  const auto t = data.train.tokens.contiguous();
  std::map<int64_t, std::map<int64_t, int>> follows;
  for (int64_t i = 0; i + 1 < t.size(0); ++i)
    ++follows[t[i].item<int64_t>()][t[i + 1].item<int64_t>()];
  int followed = 0;
  for (size_t i = 2; i < tokens.size(); ++i) {
    const auto& f = follows[tokens[i - 1]];
    const auto likeliest =
        std::max_element(f.begin(), f.end(), [](auto& a, auto& b) { return a.second < b.second; });
    followed += likeliest->first == tokens[i];
  }
  EXPECT_GE(followed, 22) << r.output;
}

TEST(Sample, DrawsAreTheSeedsAndCharactersDecodeByTheRunsVocabulary) {
  testing::TempDir dir;
  std::ofstream text(dir / "hamlet_gut.txt");
  for (int i = 0; i < 40; ++i) text << "To be, or not to be, that is the question:\n";
  text.close();
  const std::string run = dir / "run";
  auto r =
      run_command(std::string(PARALLAX_BINARY) + kSampleGpt + " --dataset shakespeare --data-dir " +
                  dir.path() + " --epochs 1 --steps 3 --out " + run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto one = run_sample(run, "--tokens 30 --prompt 'To be' --seed 1");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_EQ(run_sample(run, "--tokens 30 --prompt 'To be' --seed 1").output, one.output);
  EXPECT_NE(run_sample(run, "--tokens 30 --prompt 'To be' --seed 2").output, one.output);
  // The prompt, 30 characters of the text's (all ASCII here), a newline.
  ASSERT_EQ(one.output.size(), 5u + 30 + 1) << one.output;
  EXPECT_EQ(one.output.substr(0, 5), "To be");
  const std::set<char> seen = {'T', 'o', ' ', 'b', 'e', ',', 'r', 'n', 't',
                               'h', 'a', 'i', 's', 'q', 'u', ':', '\n'};
  for (const char c : one.output) EXPECT_TRUE(seen.count(c)) << "'" << c << "' in " << one.output;
  EXPECT_EQ(load_vocabulary(run).size, 17);

  // One line each, exit 2.
  const std::string other = dir / "resnet";
  std::filesystem::create_directories(other);
  std::string config = testing::read_text(run + "/config.json");
  config.replace(config.find("\"gpt-mini\""), 10, "\"resnet20\"");
  std::ofstream(other + "/config.json") << config;
  for (const auto& [args, needle] : std::vector<std::pair<std::string, std::string>>{
           {run + " --prompt 'To bez'", "--prompt: the character 'z' is not in the run's"},
           {run + " --prompt ''", "--prompt: empty"},
           {run + " --prompt To --temperature=-1", "--temperature"},
           {dir / "nowhere --prompt To", "no config.json there"},
           {other + " --prompt To", "a resnet20 run; sample needs a language model's"}}) {
    const auto e = run_command(std::string(PARALLAX_BINARY) + " sample " + args);
    EXPECT_EQ(e.exit_code, 2) << args << ": " << e.output;
    EXPECT_NE(e.output.find(needle), std::string::npos) << e.output;
    EXPECT_EQ(std::count(e.output.begin(), e.output.end(), '\n'), 1) << e.output;
  }
}

}  // namespace
}  // namespace parallax
