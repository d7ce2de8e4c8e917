// Dataset descriptions: format, split sizes, shapes, label counts and pixel statistics.
#include "data/info.h"

#include <torch/types.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "config/user_error.h"
#include "data/cifar10.h"
#include "data/idx.h"

namespace parallax {
namespace fs = std::filesystem;
namespace {

std::string unknown(const std::string& path, const std::string& why) {
  return "data info: " + path + " " + why +
         "; give a CIFAR-10 binary folder (data_batch_1..5.bin + test_batch.bin, or the folder "
         "holding cifar-10-batches-bin/), an IDX folder (train-images-idx3-ubyte[.gz], "
         "train-labels-idx1-ubyte[.gz], t10k-*), or one CIFAR-10 .bin or IDX file";
}

// True if the file (gzipped or not) starts with an unsigned-byte IDX magic number.
bool looks_like_idx(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) return false;
  unsigned char m[4] = {1, 1, 1, 1};
  const int got = gzread(f, m, 4);
  gzclose(f);
  return got == 4 && m[0] == 0 && m[1] == 0 && m[2] == 0x08 && (m[3] == 1 || m[3] == 3);
}

// Class counts in label order, "0:5923 1:6742 ...": sized by `classes` so that a class with no
// examples shows up as 0 rather than vanishing.
std::string label_counts(const torch::Tensor& labels, int64_t classes) {
  const torch::Tensor counts = torch::bincount(labels.to(torch::kLong), {}, classes);
  std::string out;
  for (int64_t k = 0; k < counts.size(0); ++k)
    out += (k ? " " : "") + std::to_string(k) + ":" + std::to_string(counts[k].item<int64_t>());
  return out;
}

// Mean and standard deviation of one channel, in 0..1 units, from a 256-bin histogram: exact,
// and no float copy of the 150M pixels of CIFAR-10's train split.
std::pair<double, double> channel_stats(const torch::Tensor& channel) {
  const torch::Tensor hist = torch::bincount(channel.reshape({-1}), {}, 256).to(torch::kDouble);
  const torch::Tensor values = torch::arange(256, torch::kDouble).div_(255.0);
  const double n = hist.sum().item<double>();
  const double mean = hist.mul(values).sum().item<double>() / n;
  const double mean_sq = hist.mul(values.square()).sum().item<double>() / n;
  return {mean, std::sqrt(std::max(0.0, mean_sq - mean * mean))};
}

std::string pixel_stats(const torch::Tensor& images) {  // uint8 [N, C, H, W]
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(4);
  out << "pixel mean/std per channel (0..1):";
  for (int64_t c = 0; c < images.size(1); ++c) {
    const auto [mean, stdev] = channel_stats(images.select(1, c));
    out << " " << mean << "/" << stdev;
  }
  return out.str();
}

void describe_split(std::ostringstream& out, const std::string& name, const Split& s,
                    int64_t classes) {
  out << name << ": " << s.size() << " images of " << s.images.size(1) << "x" << s.images.size(2)
      << "x" << s.images.size(3) << "; labels " << label_counts(s.labels, classes) << "\n  "
      << pixel_stats(s.images) << "\n";
}

std::string describe_dataset(const std::string& format, const Dataset& d) {
  std::ostringstream out;
  out << "format: " << format << " in " << d.source << "\nclasses: " << d.classes << "\n";
  describe_split(out, "train", d.train, d.classes);
  describe_split(out, "test", d.test, d.classes);
  return out.str();
}

}  // namespace

std::string describe_data_path(const std::string& path) {
  if (!fs::exists(path)) throw UserError(unknown(path, "does not exist"));
  if (fs::is_directory(path)) {
    const std::string base = cifar10_batches_dir(path);
    if (fs::exists(fs::path(base) / "data_batch_1.bin") ||
        fs::exists(fs::path(base) / "test_batch.bin"))
      return describe_dataset("CIFAR-10 binary", read_cifar10(path));
    if (!find_idx_file(path, "train-images-idx3-ubyte").empty() ||
        !find_idx_file(path, "t10k-images-idx3-ubyte").empty())
      return describe_dataset("IDX (MNIST / Fashion-MNIST layout)", read_idx_dataset(path, "idx"));
    throw UserError(unknown(path, "holds no dataset files I know"));
  }

  std::ostringstream out;
  if (fs::path(path).extension() == ".bin") {
    const auto bytes = static_cast<int64_t>(fs::file_size(path));
    if (bytes == 0 || bytes % kCifarRecordBytes != 0)
      throw UserError(
          unknown(path, "is " + std::to_string(bytes) + " bytes, not a whole number of " +
                            std::to_string(kCifarRecordBytes) + "-byte CIFAR-10 records"));
    out << "format: CIFAR-10 binary batch, " << bytes / kCifarRecordBytes << " records\n";
    describe_split(out, fs::path(path).filename().string(),
                   read_cifar10_file(path, bytes / kCifarRecordBytes), 10);
    return out.str();
  }
  if (!looks_like_idx(path)) throw UserError(unknown(path, "is in no format I know"));
  const torch::Tensor t = read_idx(path);
  out << "format: IDX " << (t.dim() == 1 ? "labels" : "images") << ", unsigned bytes, shape [";
  for (int64_t i = 0; i < t.dim(); ++i) out << (i ? ", " : "") << t.size(i);
  out << "]\n";
  if (t.dim() == 1) {
    const int64_t classes = t.numel() ? t.max().item<int64_t>() + 1 : 0;
    out << "labels " << label_counts(t, classes) << "\n";
  } else if (t.size(0) > 0) {
    out << pixel_stats(t.unsqueeze(1)) << "\n";
  }
  return out.str();
}

}  // namespace parallax
