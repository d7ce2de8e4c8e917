// ResNet factory: stage depths and widths of each named network.
#include "models/resnet.h"

#include <torch/torch.h>

#include "config/user_error.h"
#include "models/resnet_blocks.h"

namespace parallax {
namespace {

struct Layout {
  bool imagenet;  // torchvision (7x7 stem, 4 stages of 64..512) or CIFAR (3x3 stem, 16/32/64)
  bool bottleneck;
  std::vector<int64_t> depths;
};

Layout layout_of(const std::string& name) {
  if (name == "resnet18") return {true, false, {2, 2, 2, 2}};
  if (name == "resnet34") return {true, false, {3, 4, 6, 3}};
  if (name == "resnet50") return {true, true, {3, 4, 6, 3}};
  if (name == "resnet101") return {true, true, {3, 4, 23, 3}};
  if (name == "resnet20") return {false, false, {3, 3, 3}};
  if (name == "resnet56") return {false, false, {9, 9, 9}};
  throw UserError("--model " + name +
                  ": unknown; choose resnet18, resnet34, resnet50, "
                  "resnet101, resnet20 or resnet56");
}

}  // namespace

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = {"resnet18",  "resnet34", "resnet50",
                                                 "resnet101", "resnet20", "resnet56"};
  return names;
}

std::shared_ptr<ModelBlocks> make_resnet(const ModelSpec& spec) {
  const Layout layout = layout_of(spec.name);
  const int64_t base = layout.imagenet ? 64 : 16;
  auto model = std::make_shared<ModelBlocks>();
  model->add("stem",
             std::make_shared<Stem>(spec.in_channels, base, layout.imagenet, spec.batch_norm));
  int64_t channels = base;
  for (size_t stage = 0; stage < layout.depths.size(); ++stage) {
    const int64_t width = base << stage;
    for (int64_t i = 0; i < layout.depths[stage]; ++i) {
      const int64_t stride = (i == 0 && stage > 0) ? 2 : 1;
      const std::string name = "layer" + std::to_string(stage + 1) + "." + std::to_string(i);
      std::shared_ptr<Block> block;
      if (layout.bottleneck) {
        block = std::make_shared<Bottleneck>(channels, width, stride, spec.batch_norm);
        channels = width * Bottleneck::kExpansion;
      } else {
        const Shortcut sc = layout.imagenet ? Shortcut::kProjection : Shortcut::kZeroPad;
        block = std::make_shared<BasicBlock>(channels, width, stride, sc, spec.batch_norm);
        channels = width;
      }
      model->add(name, block);
    }
  }
  model->add("fc", std::make_shared<Head>(channels, spec.classes));
  return model;
}

}  // namespace parallax
