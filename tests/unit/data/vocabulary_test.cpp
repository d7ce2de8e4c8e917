// A run's vocabulary.json read back: prompts encoded by character, byte or token number and
// decoded again; what it cannot encode is one line naming the character or number.
#include "data/vocabulary.h"

#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"

namespace parallax {
namespace {

Vocabulary characters() {
  Vocabulary v;
  v.token = "character";
  v.characters = {"\n", " ", "a", "b", "\xC3\xA9"};  // ..., "é" (two bytes)
  v.size = 5;
  return v;
}

TEST(Vocabulary, CharactersEncodeToTheirIndicesAndDecodeBack) {
  const Vocabulary v = characters();
  const std::string text = "ab\xC3\xA9 a\n";
  const std::vector<int64_t> tokens = encode(v, text);
  EXPECT_EQ(tokens, (std::vector<int64_t>{2, 3, 4, 1, 2, 0}));
  EXPECT_EQ(decode(v, tokens), text);
  testing::expect_user_error(
      [&] { encode(v, "abc"); },
      {"--prompt", "the character 'c' is not in the run's vocabulary", "5 characters"});
  testing::expect_user_error([&] { encode(v, "a\tb"); }, {"U+0009"});
}

TEST(Vocabulary, BytesAreTheirValuesAndTokensTheirNumbers) {
  Vocabulary bytes;
  bytes.token = "byte";
  bytes.size = 256;
  EXPECT_EQ(encode(bytes, "A\xC3\xA9"), (std::vector<int64_t>{65, 0xC3, 0xA9}));
  EXPECT_EQ(decode(bytes, {72, 105}), "Hi");
  Vocabulary numbers;
  numbers.size = 12;
  EXPECT_EQ(encode(numbers, " 3 11  0 "), (std::vector<int64_t>{3, 11, 0}));
  EXPECT_EQ(decode(numbers, {3, 11, 0}), "3 11 0");
  testing::expect_user_error([&] { encode(numbers, "3 12"); },
                             {"'12' is not a token of this run", "0 to 11"});
  testing::expect_user_error([&] { encode(numbers, "3 x"); }, {"'x' is not a token"});
  testing::expect_user_error([&] { encode(numbers, "-1"); }, {"'-1' is not a token"});
}

TEST(Vocabulary, ReadFromTheRunFolder) {
  testing::TempDir dir;
  std::ofstream(dir / "vocabulary.json")
      << R"({"dataset": "shakespeare", "size": 3, "token": "character", "characters": ["a", "b", "c"]})";
  const Vocabulary v = load_vocabulary(dir.path());
  EXPECT_EQ(v.token, "character");
  EXPECT_EQ(v.size, 3);
  EXPECT_EQ(v.characters, (std::vector<std::string>{"a", "b", "c"}));
  std::ofstream(dir / "vocabulary.json") << R"({"size": 3, "token": "character"})";
  testing::expect_user_error([&] { load_vocabulary(dir.path()); },
                             {"vocabulary.json: not a parallax vocabulary"});
  testing::TempDir empty;
  testing::expect_user_error([&] { load_vocabulary(empty.path()); },
                             {empty.path(), "no vocabulary.json", "not a language model's run"});
}

TEST(Vocabulary, Utf8CharactersKeepMultiByteOnesWhole) {
  EXPECT_EQ(utf8_characters("a\xC3\xA9\xE2\x82\xAC!"),
            (std::vector<std::string>{"a", "\xC3\xA9", "\xE2\x82\xAC", "!"}));
}

}  // namespace
}  // namespace parallax
