// Generation as nanoGPT's generate(): crop, forward, the last position's logits / temperature,
// keep the top k, softmax, draw one; the argmax where the temperature is 0.
#include "models/generate.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <limits>

#include "models/blocks.h"

namespace parallax {

std::vector<int64_t> generate(ModelBlocks& model, const std::vector<int64_t>& prompt,
                              const GenerateOptions& o) {
  TORCH_CHECK(!prompt.empty(), "generate: an empty prompt");
  TORCH_CHECK(o.context >= 1 && o.temperature >= 0 && o.top_k >= 0, "generate: bad options");
  torch::NoGradGuard no_grad;
  model.eval();
  // A generator of its own: the draws depend on the seed alone, not on what ran before.
  auto generator = at::detail::createCPUGenerator(o.seed);
  std::vector<int64_t> tokens = prompt;
  for (int64_t i = 0; i < o.tokens; ++i) {
    const auto n = static_cast<int64_t>(tokens.size());
    const int64_t from = std::max<int64_t>(0, n - o.context);
    const auto window =
        torch::tensor(std::vector<int64_t>(tokens.begin() + from, tokens.end()), torch::kLong)
            .unsqueeze(0);
    const torch::Tensor logits = model.forward(window).select(1, -1).squeeze(0).to(torch::kDouble);
    int64_t next;
    if (o.temperature == 0) {
      next = logits.argmax().item<int64_t>();
    } else {
      torch::Tensor scaled = logits / o.temperature;
      if (o.top_k > 0 && o.top_k < scaled.size(0)) {
        const auto kth = std::get<0>(scaled.topk(o.top_k)).select(0, -1);
        scaled = scaled.masked_fill(scaled < kth, -std::numeric_limits<double>::infinity());
      }
      next = torch::multinomial(torch::softmax(scaled, 0), 1, false, generator).item<int64_t>();
    }
    tokens.push_back(next);
  }
  return tokens;
}

}  // namespace parallax
