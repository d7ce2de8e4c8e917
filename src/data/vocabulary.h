// A text run's vocabulary (its vocabulary.json): what each token stands for, to encode a prompt
// and decode generated tokens (`parallax sample`).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace parallax {

struct Vocabulary {
  // "character" (shakespeare: characters[i] is token i), "byte" (text: token = byte value) or
  // "token" (synthetic-text: tokens are numbers 0 ... size - 1).
  std::string token = "token";
  int64_t size = 0;
  std::vector<std::string> characters;
};

// Reads RUN_DIR/vocabulary.json; UserError for a run without one (not a language model's) or one
// that does not parse.
Vocabulary load_vocabulary(const std::string& run_dir);

// Text as tokens: each character's index, each byte's value, or space-separated token numbers.
// UserError naming a character the vocabulary lacks, or a number that is not a token.
std::vector<int64_t> encode(const Vocabulary& v, const std::string& text);
// Tokens as text (token numbers separated by spaces).
std::string decode(const Vocabulary& v, const std::vector<int64_t>& tokens);

// UTF-8 text split into its characters (a stray byte alone), in order.
std::vector<std::string> utf8_characters(const std::string& text);

}  // namespace parallax
