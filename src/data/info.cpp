// Dataset descriptions: format, split sizes, shapes, label counts and pixel statistics.
#include "data/info.h"

#include <torch/torch.h>

#include <filesystem>
#include <sstream>

#include "config/user_error.h"
#include "data/cifar10.h"
#include "data/idx.h"

namespace parallax {
namespace fs = std::filesystem;
namespace {

std::string label_counts(const torch::Tensor& labels) {
  std::string out;
  auto counts = torch::bincount(labels.to(torch::kLong));
  for (int64_t k = 0; k < counts.size(0); ++k) out += " " + std::to_string(counts[k].item<int64_t>());
  return out;
}

void describe_split(std::ostringstream& out, const std::string& name, const Split& s) {
  out << name << ": " << s.size() << " images of " << s.images.size(1) << "x" << s.images.size(2)
      << "x" << s.images.size(3) << "; per class:" << label_counts(s.labels);
  auto x = s.images.to(torch::kFloat).div_(255).transpose(0, 1).reshape({s.images.size(1), -1});
  out << "; pixel mean/std per channel:";
  for (int64_t c = 0; c < x.size(0); ++c)
    out << " " << x[c].mean().item<float>() << "/" << x[c].std().item<float>();
  out << "\n";
}

}  // namespace

std::string describe_data_path(const std::string& path) {
  std::ostringstream out;
  out.precision(4);
  if (fs::is_directory(path)) {
    const bool cifar =
        fs::exists(path + "/data_batch_1.bin") || fs::is_directory(path + "/cifar-10-batches-bin");
    const Dataset d = cifar ? read_cifar10(path) : read_idx_dataset(path, "idx");
    out << "format: " << (cifar ? "CIFAR-10 binary" : "IDX (MNIST / Fashion-MNIST)") << " in "
        << d.source << "\nclasses: " << d.classes << "\n";
    describe_split(out, "train", d.train);
    describe_split(out, "test", d.test);
    return out.str();
  }
  if (!fs::exists(path))
    throw UserError("data info " + path +
                    ": no such file or folder; give a CIFAR-10 or IDX "
                    "folder, or one of their files");
  if (path.size() > 4 && path.substr(path.size() - 4) == ".bin") {
    const auto records = static_cast<int64_t>(fs::file_size(path)) / kCifarRecordBytes;
    out << "format: CIFAR-10 binary batch\n";
    describe_split(out, fs::path(path).filename().string(), read_cifar10_file(path, records));
    return out.str();
  }
  const torch::Tensor t = read_idx(path);
  out << "format: IDX, unsigned bytes, shape " << t.sizes() << "\n";
  if (t.dim() == 1) out << "per class:" << label_counts(t) << "\n";
  return out.str();
}

}  // namespace parallax
