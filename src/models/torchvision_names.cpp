// torchvision names for parallax's block-structured ResNets.
#include "models/torchvision_names.h"

namespace parallax {

std::string torchvision_name(const std::string& name) {
  if (name.rfind("stem.", 0) == 0) return name.substr(5);
  if (name.rfind("fc.linear.", 0) == 0) return "fc." + name.substr(10);
  return name;
}

std::vector<std::pair<std::string, torch::Tensor>> torchvision_state(
    const torch::nn::Module& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  auto add = [&](const std::string& prefix, const torch::nn::Module& m) {
    auto full = [&](const std::string& key) { return prefix.empty() ? key : prefix + "." + key; };
    for (const auto& p : m.named_parameters(/*recurse=*/false))
      out.emplace_back(torchvision_name(full(p.key())), p.value());
    for (const auto& b : m.named_buffers(/*recurse=*/false))
      out.emplace_back(torchvision_name(full(b.key())), b.value());
  };
  add("", model);
  for (const auto& child : model.named_modules("", /*include_self=*/false))
    add(child.key(), *child.value());
  return out;
}

}  // namespace parallax
