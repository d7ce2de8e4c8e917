// The loss and the count of right answers, for classifiers and language models alike: logits
// [batch, classes] against labels [batch], or [batch, T, vocabulary] against next tokens [batch, T].
#pragma once
#include <torch/types.h>

namespace parallax {

// Cross-entropy over the last dimension, the mean over every target (image or token).
torch::Tensor task_loss(const torch::Tensor& logits, const torch::Tensor& labels);

// How many targets the logits' argmax gets right (an int64 scalar on their device; no sync).
torch::Tensor correct_count(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace parallax
