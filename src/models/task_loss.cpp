// Task loss: a language model's positions are flattened into rows, each a classification.
#include "models/task_loss.h"

#include <torch/torch.h>

namespace parallax {

torch::Tensor task_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  if (logits.dim() == 2) return torch::nn::functional::cross_entropy(logits, labels);
  return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}),
                                              labels.reshape({-1}));
}

torch::Tensor correct_count(const torch::Tensor& logits, const torch::Tensor& labels) {
  return logits.argmax(-1).eq(labels).sum();
}

}  // namespace parallax
