// Hugging Face GPT-2 names for parallax's gpt block list.
#include "models/gpt2_names.h"

namespace parallax {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string gpt2_name(const std::string& name) {
  if (starts_with(name, "embed.")) return "transformer." + name.substr(6);
  if (starts_with(name, "head.")) return "transformer." + name.substr(5);
  return "transformer." + name;
}

std::vector<std::pair<std::string, torch::Tensor>> gpt2_state(const torch::nn::Module& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  torch::Tensor embedding;
  for (const auto& p : model.named_parameters()) {
    const std::string name = gpt2_name(p.key());
    // Every 2-D weight inside a block is a Linear's ([out, in]); GPT-2's Conv1D holds [in, out].
    const bool conv1d = starts_with(p.key(), "h.") && p.value().dim() == 2;
    out.emplace_back(name, conv1d ? p.value().t() : p.value());
    if (name == kGpt2Embedding) embedding = p.value();
  }
  TORCH_CHECK(embedding.defined(), "gpt2_state: the model has no ", kGpt2Embedding);
  out.emplace_back(kGpt2Head, embedding);
  return out;
}

bool is_gpt2_mask_buffer(const std::string& name) {
  return starts_with(name, "transformer.h.") &&
         (ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias"));
}

}  // namespace parallax
