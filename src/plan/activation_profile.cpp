// profile_activations(): the allocator's count after each block's forward less before it, with
// every output (and so the autograd graph) kept until all blocks have run.
#include "plan/activation_profile.h"

#include <torch/torch.h>

#include "metrics/heap.h"
#include "models/blocks.h"

namespace parallax {

ActivationProfile profile_activations(ModelBlocks& model, const std::vector<int64_t>& sample_shape,
                                      int64_t rows, const torch::Device& device,
                                      const Precision& precision) {
  std::vector<int64_t> shape{rows};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  const auto x = model.token_input()
                     ? model.example_input(shape, device)
                     : torch::full(shape, 0.5, torch::TensorOptions().dtype(model.scalar_type()).device(device));
  std::vector<torch::Tensor> saved;
  for (const auto& t : model.buffers()) saved.push_back(t.clone());
  model.train();
  ActivationProfile profile;
  {
    // Warm-up, block by block: what each one's forward and backward leave allocated once its
    // gradients are dropped is the caches and workspaces it keeps from then on.
    torch::Tensor in = x;
    for (size_t i = 0; i < model.blocks().size(); ++i) {
      const int64_t before = allocated_bytes(device);
      auto xin = in.is_floating_point() ? in.detach().requires_grad_(true) : in;
      torch::Tensor y;
      {
        const AutocastGuard autocast(precision, device);
        y = model.run(i, xin);
      }
      y.backward(torch::ones_like(y));
      for (auto& p : model.parameters()) p.mutable_grad().reset();
      in = y.detach();
      xin = torch::Tensor();
      y = torch::Tensor();
      const int64_t left = allocated_bytes(device) - before - in.numel() * in.element_size();
      profile.workspace.push_back(std::max<int64_t>(0, left));
    }
  }
  std::vector<int64_t>& bytes = profile.activations;
  {
    std::vector<torch::Tensor> outputs;
    torch::Tensor y = x;
    int64_t before = allocated_bytes(device);
    for (size_t i = 0; i < model.blocks().size(); ++i) {
      {
        const AutocastGuard autocast(precision, device);
        y = model.run(i, y);
      }
      outputs.push_back(y);
      const int64_t now = allocated_bytes(device);
      bytes.push_back(std::max<int64_t>(0, now - before));
      before = now;
    }
  }
  for (auto& p : model.parameters()) p.mutable_grad().reset();  // a tied head's, into the embedding
  torch::NoGradGuard no_grad;
  auto buffers = model.buffers();
  for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(saved[i]);
  return profile;
}

}  // namespace parallax
