// Autoregressive generation from a language model (a gpt): each new token is drawn from the
// model's next-token distribution given the tokens so far, cropped to its context.
#pragma once
#include <cstdint>
#include <vector>

namespace parallax {

class ModelBlocks;

struct GenerateOptions {
  int64_t tokens = 100;      // how many to add
  int64_t context = 64;      // the model sees at most the last `context` tokens
  double temperature = 1.0;  // logits divided by it; 0: always the likeliest token
  int64_t top_k = 0;         // draw among the k likeliest only; 0: among all
  uint64_t seed = 0;         // the draws are a function of it
};

// The prompt (one token or more) followed by `tokens` new ones. Runs the model in eval mode
// without gradients, on the CPU, in the model's dtype.
std::vector<int64_t> generate(ModelBlocks& model, const std::vector<int64_t>& prompt,
                              const GenerateOptions& options);

}  // namespace parallax
