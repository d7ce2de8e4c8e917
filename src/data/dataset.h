// Dataset: a train and a test split held in memory: uint8 images and int64 labels (classification),
// or a stream of int64 tokens cut into windows (language modelling).
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

namespace parallax {

struct Split {
  torch::Tensor images;  // uint8 [N, C, H, W], on the CPU
  torch::Tensor labels;  // int64 [N], each in [0, classes)
  // Text: the split's tokens, int64 [T], on the CPU; a sample is a window of context + 1 of them
  // (the inputs, and the same shifted by one as targets), `windows` of them make the split.
  torch::Tensor tokens;
  int64_t windows = 0, context = 0;
  bool is_text() const { return tokens.defined(); }
  int64_t size() const { return is_text() ? windows : labels.defined() ? labels.size(0) : 0; }
};

// What a dataset is for: the loss and the metric follow it.
enum class Task { kClassification, kLanguageModel };

struct Dataset {
  std::string name;    // "synthetic", "cifar10", "shakespeare", ...
  std::string source;  // where it came from, for summaries: a folder, or the generator's settings
  Task task = Task::kClassification;
  int64_t classes = 0;  // a language model's: the vocabulary's size
  // Character-level text: the character (UTF-8) each token stands for, in token order. Empty for
  // bytes (token = byte value) and for synthetic tokens.
  std::vector<std::string> vocabulary;
  Split train, test;
  bool is_text() const { return task == Task::kLanguageModel; }
  int64_t channels() const { return is_text() ? 0 : train.images.size(1); }
  int64_t height() const { return is_text() ? 0 : train.images.size(2); }
  int64_t width() const { return is_text() ? 0 : train.images.size(3); }
  // One input's shape: (C, H, W), or (context) tokens.
  std::vector<int64_t> sample_shape() const {
    if (is_text()) return {train.context};
    return {channels(), height(), width()};
  }
  // What a language model's token stands for: "character" (a vocabulary), "byte" (text read
  // by byte) or "token" (synthetic); "" for images.
  std::string token_unit() const {
    if (!is_text()) return "";
    return !vocabulary.empty() ? "character" : name == "text" ? "byte" : "token";
  }
  // Targets per sample: 1 label per image, one next token per position of a window.
  int64_t targets_per_sample() const { return is_text() ? train.context : 1; }
};

}  // namespace parallax
