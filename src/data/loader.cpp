// Loader: fills reused (pinned) host buffers sample by sample, then one async copy to the device.
#include "data/loader.h"

#include <torch/torch.h>

#include "data/text_windows.h"

namespace parallax {

Loader::Loader(const Split& split, Normalization norm, const LoaderOptions& options,
               torch::Device device)
    : split_(split),
      norm_(std::move(norm)),
      options_(options),
      device_(device),
      sampler_(split.size(), options.train, options.seed, options.rank, options.world,
               /*pad=*/options.train) {
  new_host_buffers();
  if (split.is_text()) {
    if (device.is_cuda()) {
      device_images_ = torch::empty_like(host_images_, torch::TensorOptions().device(device));
      device_labels_ = torch::empty_like(host_labels_, torch::TensorOptions().device(device));
    }
    return;
  }
  // Channels-last: the batch is copied once into an NHWC buffer (on the GPU, by the upload).
  const auto format =
      options.channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  if (device.is_cuda()) {
    const auto on_device = torch::TensorOptions().device(device);
    device_images_ = torch::empty_like(host_images_, on_device.dtype(options.dtype), format);
    device_labels_ = torch::empty_like(host_labels_, on_device);
  } else if (options.dtype != torch::kFloat || options.channels_last) {
    cast_images_ =
        torch::empty_like(host_images_, torch::TensorOptions().dtype(options.dtype), format);
  }
}

void Loader::new_host_buffers() {
  auto host = torch::TensorOptions().pinned_memory(device_.is_cuda());
  if (split_.is_text()) {  // token windows: inputs and targets, int64 [batch, context] each
    host_images_ = torch::empty({options_.batch_size, split_.context}, host.dtype(torch::kLong));
    host_labels_ = torch::empty({options_.batch_size, split_.context}, host.dtype(torch::kLong));
    return;
  }
  const auto& img = split_.images;
  host_images_ = torch::empty({options_.batch_size, img.size(1), img.size(2), img.size(3)},
                              host.dtype(torch::kFloat));
  host_labels_ = torch::empty({options_.batch_size}, host.dtype(torch::kLong));
}

int64_t Loader::batches() const {
  const int64_t n = static_cast<int64_t>(sampler_.indices().size()), b = options_.batch_size;
  return options_.train ? n / b : (n + b - 1) / b;
}

int64_t Loader::samples() const {
  const int64_t n = static_cast<int64_t>(sampler_.indices().size());
  return options_.train ? batches() * options_.batch_size : n;
}

Batch Loader::batch(int64_t i) {
  const auto& order = sampler_.indices();
  const int64_t first = i * options_.batch_size;
  const int64_t count =
      std::min<int64_t>(options_.batch_size, static_cast<int64_t>(order.size()) - first);
  TORCH_CHECK(i >= 0 && count > 0, "batch ", i, " is past the end of the epoch");

  // On a GPU every batch gets fresh pinned buffers from LibTorch's caching host allocator: the
  // previous batch's non-blocking copy may still be reading its buffers (evaluation queues batch
  // after batch with no sync), and the allocator hands a block out again only once the copies
  // recorded on it have finished. After the first batches this allocates nothing new.
  if (device_.is_cuda()) new_host_buffers();
  if (split_.is_text()) {
    fill_text(order, first, count);
    return upload(count);
  }
  const auto& img = split_.images;
  const int64_t c = img.size(1), h = img.size(2), w = img.size(3), pixels = c * h * w;
  const uint8_t* src = img.data_ptr<uint8_t>();
  const int64_t* labels = split_.labels.data_ptr<int64_t>();
  float* dst = host_images_.data_ptr<float>();
  int64_t* dst_labels = host_labels_.data_ptr<int64_t>();
  const bool augment = options_.train && options_.augment;
  for (int64_t k = 0; k < count; ++k) {
    const int64_t sample = order[first + k];
    CropFlip aug;
    if (augment) aug = crop_flip_for(options_.seed, sampler_.epoch(), sample);
    write_sample(src + sample * pixels, c, h, w, norm_, augment ? &aug : nullptr, dst + k * pixels);
    dst_labels[k] = labels[sample];
  }

  return upload(count);
}

void Loader::fill_text(const std::vector<int64_t>& order, int64_t first, int64_t count) {
  const int64_t n = split_.tokens.size(0), t = split_.context;
  const int64_t* tokens = split_.tokens.data_ptr<int64_t>();
  int64_t* inputs = host_images_.data_ptr<int64_t>();
  int64_t* targets = host_labels_.data_ptr<int64_t>();
  for (int64_t k = 0; k < count; ++k) {
    const int64_t sample = order[first + k];
    const int64_t start = options_.train
                              ? train_window_start(options_.seed, sampler_.epoch(), sample, n, t)
                              : eval_window_start(sample, split_.windows, n, t);
    fill_window(tokens, start, t, inputs + k * t, targets + k * t);
  }
}

Batch Loader::upload(int64_t count) {
  Batch b{host_images_.narrow(0, 0, count), host_labels_.narrow(0, 0, count)};
  if (!device_.is_cuda()) {
    if (cast_images_.defined()) b.images = cast_images_.narrow(0, 0, count).copy_(b.images);
    return b;
  }
  // Non-blocking from pinned memory: the copy overlaps the previous step's kernels.
  auto dev_images = device_images_.narrow(0, 0, count);
  auto dev_labels = device_labels_.narrow(0, 0, count);
  dev_images.copy_(b.images, /*non_blocking=*/true);
  dev_labels.copy_(b.labels, /*non_blocking=*/true);
  return Batch{dev_images, dev_labels};
}

}  // namespace parallax
