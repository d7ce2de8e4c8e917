// ModelBlocks: registration under nested names, and running a range of blocks.
#include "models/blocks.h"

#include <torch/torch.h>

#include "config/user_error.h"

namespace parallax {

void ModelBlocks::add(const std::string& name, std::shared_ptr<Block> block) {
  const auto dot = name.find('.');
  if (dot == std::string::npos) {
    register_module(name, block);
  } else {
    // Container modules ("layer1") exist only to give parameters their torchvision names.
    const std::string parent = name.substr(0, dot);
    auto children = named_children();
    std::shared_ptr<torch::nn::Module> holder =
        children.contains(parent) ? children[parent]
                                  : register_module(parent, std::make_shared<torch::nn::Module>());
    holder->register_module(name.substr(dot + 1), block);
  }
  blocks_.push_back({name, std::move(block)});
}

int64_t ModelBlocks::index_of(const std::string& name) const {
  for (size_t i = 0; i < blocks_.size(); ++i)
    if (blocks_[i].name == name) return static_cast<int64_t>(i);
  return -1;
}

torch::Tensor ModelBlocks::forward_range(torch::Tensor x, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) {
    if (before_block_) before_block_(i);
    x = run_block(*blocks_[i].block, x);
    if (after_block_) after_block_(i, x);
  }
  return x;
}

torch::Tensor ModelBlocks::run_block(Block& block, const torch::Tensor& x) {
  if (recompute_ != Recompute::kFull) return block.forward(x);
  auto parameters = block.parameters();
  for (auto& p : block.shared_parameters()) parameters.push_back(p);
  return parallax::recompute(
      [&block](const std::vector<torch::Tensor>& in) { return block.forward(in[0]); }, {x},
      parameters, block.buffers());
}

void ModelBlocks::set_recompute(Recompute mode) {
  size_t selective = 0;
  for (auto& b : blocks_)
    selective += b.block->set_selective_recompute(mode == Recompute::kSelective);
  if (mode == Recompute::kSelective && selective == 0)
    throw UserError("--recompute selective: this model has no attention core to recompute "
                    "(a ResNet); give --recompute full or none");
  recompute_ = mode;
}

void ModelBlocks::split_layers(const std::shared_ptr<SplitLayers>& split) {
  for (auto& b : blocks_)
    if (!b.block->split_layers(split))
      throw UserError("tensor parallelism: block " + b.name +
                      " has no layers to split (gpt's and vit's have); use another --strategy");
}

std::vector<std::vector<size_t>> ModelBlocks::parameter_indices_by_block() const {
  std::vector<std::vector<size_t>> indices(blocks_.size());
  size_t next = 0;
  for (size_t i = 0; i < blocks_.size(); ++i)
    for (size_t n = blocks_[i].block->parameters().size(); n > 0; --n) indices[i].push_back(next++);
  return indices;
}

std::vector<std::vector<size_t>> ModelBlocks::parameter_indices_used_by_block() const {
  auto indices = parameter_indices_by_block();
  for (const auto& tie : ties_) {
    const auto owned = blocks_[tie.owner].block->named_parameters();
    size_t k = 0;
    for (const auto& item : owned) {
      if (item.key() == tie.name) indices[tie.user].push_back(indices[tie.owner][k]);
      ++k;
    }
  }
  return indices;
}

torch::Tensor ModelBlocks::example_input(const std::vector<int64_t>& shape,
                                         c10::Device device) const {
  return torch::zeros(shape, torch::TensorOptions()
                                 .dtype(token_input_ ? torch::kLong : scalar_type())
                                 .device(device));
}

std::vector<std::string> ModelBlocks::block_names() const {
  std::vector<std::string> names;
  for (const auto& b : blocks_) names.push_back(b.name);
  return names;
}

c10::ScalarType ModelBlocks::scalar_type() const {
  const auto params = parameters();
  return params.empty() ? torch::kFloat : params.front().scalar_type();
}

void ModelBlocks::set_floating_dtype(c10::ScalarType dtype) {
  torch::NoGradGuard no_grad;
  for (auto& t : parameters())
    if (t.is_floating_point() && t.scalar_type() != dtype) t.set_data(t.to(dtype));
  for (auto& t : buffers())
    if (t.is_floating_point() && t.scalar_type() != dtype) t.set_data(t.to(dtype));
}

void ModelBlocks::set_channels_last() {
  torch::NoGradGuard no_grad;
  for (auto& t : parameters())
    if (t.dim() == 4) t.set_data(t.contiguous(torch::MemoryFormat::ChannelsLast));
}

int64_t ModelBlocks::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

void ModelBlocks::set_norm_override(const NormOverride& f) {
  for (auto& b : blocks_) b.block->set_norm_override(f);
}

}  // namespace parallax
