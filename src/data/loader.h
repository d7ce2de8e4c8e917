// Loader: turns a split's uint8 images into normalised (and, for training, augmented) batches, or
// a text split's token windows into batches of inputs and next-token targets.
#pragma once
#include <torch/types.h>

#include "data/augment.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "data/sampler.h"

namespace parallax {

struct LoaderOptions {
  int64_t batch_size = 32;  // per rank
  bool train = true;        // train: shuffle, augment (if augment), drop the last partial batch
  bool augment = true;
  uint64_t seed = 0;
  int rank = 0, world = 1;
  torch::ScalarType dtype = torch::kFloat;  // of the images handed out (the model's)
  bool channels_last = false;               // images handed out in NHWC memory order
};

class Loader {
 public:
  Loader(const Split& split, Normalization norm, const LoaderOptions& options,
         torch::Device device);

  void set_epoch(int64_t epoch) { sampler_.set_epoch(epoch); }
  int64_t batches() const;
  int64_t samples() const;  // images this rank visits per epoch (after dropping a partial batch)
  // Targets per sample: 1 label per image; a text window's next token at each position.
  int64_t targets_per_sample() const { return split_.is_text() ? split_.context : 1; }

  // Batch i of the current epoch. The tensors are views of buffers reused by the next call:
  // consume (or copy) them before asking for another batch. On a GPU the host-to-device copy is
  // asynchronous: a batch may be asked for before the previous one's kernels have run.
  Batch batch(int64_t i);

 private:
  Split split_;
  Normalization norm_;
  LoaderOptions options_;
  torch::Device device_;
  Sampler sampler_;
  void new_host_buffers();
  void fill_text(const std::vector<int64_t>& order, int64_t first, int64_t count);
  Batch upload(int64_t count);  // the host buffers' first rows, on the device
  torch::Tensor host_images_, host_labels_;      // float32; pinned when the device is a GPU
  torch::Tensor device_images_, device_labels_;  // undefined on CPU: the host buffers serve
  torch::Tensor cast_images_;  // on the CPU, the images in options.dtype when that is not float32
};

}  // namespace parallax
