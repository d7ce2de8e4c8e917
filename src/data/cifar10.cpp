// CIFAR-10 reader: one fread per file into a tensor, labels and pixels split by tensor views.
#include "data/cifar10.h"

#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "config/user_error.h"

namespace parallax {
namespace fs = std::filesystem;

Split read_cifar10_file(const std::string& path, int64_t records) {
  const std::string fix = "; re-download with `parallax data download cifar10`";
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) throw UserError("cifar10: " + path + " is missing" + fix);
  const int64_t expected = records * kCifarRecordBytes;
  if (static_cast<int64_t>(size) != expected)
    throw UserError("cifar10: " + path + " is " + std::to_string(size) + " bytes, expected " +
                    std::to_string(expected) + " (" + std::to_string(records) + " records of " +
                    std::to_string(kCifarRecordBytes) + " bytes)" + fix);
  auto raw = torch::empty({records, kCifarRecordBytes}, torch::kUInt8);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw UserError("cifar10: cannot open " + path + fix);
  const size_t got = std::fread(raw.data_ptr(), 1, static_cast<size_t>(expected), f);
  std::fclose(f);
  if (static_cast<int64_t>(got) != expected) throw UserError("cifar10: cannot read " + path + fix);

  Split split;
  split.labels = raw.select(1, 0).to(torch::kLong);
  split.images = raw.narrow(1, 1, kCifarRecordBytes - 1).reshape({records, 3, 32, 32}).contiguous();
  const int64_t max_label = split.labels.max().item<int64_t>();
  if (max_label > 9)
    throw UserError("cifar10: " + path + " holds label " + std::to_string(max_label) +
                    ", expected 0..9" + fix);
  return split;
}

Dataset read_cifar10(const std::string& dir) {
  const std::string base =
      fs::is_directory(dir + "/cifar-10-batches-bin") ? dir + "/cifar-10-batches-bin" : dir;
  std::vector<torch::Tensor> images, labels;
  for (int i = 1; i <= 5; ++i) {
    Split part = read_cifar10_file(base + "/data_batch_" + std::to_string(i) + ".bin");
    images.push_back(part.images);
    labels.push_back(part.labels);
  }
  Dataset d;
  d.name = "cifar10";
  d.source = base;
  d.classes = 10;
  d.train = Split{torch::cat(images), torch::cat(labels)};
  d.test = read_cifar10_file(base + "/test_batch.bin");
  return d;
}

}  // namespace parallax
