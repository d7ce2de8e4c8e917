// IDX reader through zlib's gzread, which reads plain files transparently.
#include "data/idx.h"

#include <torch/torch.h>
#include <zlib.h>

#include <filesystem>
#include <memory>

#include "config/user_error.h"

namespace parallax {
namespace {

uint32_t big_endian(const unsigned char* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

std::string find_idx(const std::string& dir, const std::string& stem) {
  for (const std::string& name : {stem, stem + ".gz"})
    if (std::filesystem::exists(dir + "/" + name)) return dir + "/" + name;
  throw UserError("idx: " + dir + "/" + stem +
                  "[.gz] is missing; give --data-dir with the "
                  "four IDX files");
}

}  // namespace

torch::Tensor read_idx(const std::string& path) {
  std::unique_ptr<gzFile_s, int (*)(gzFile)> f(gzopen(path.c_str(), "rb"), gzclose);
  if (!f) throw UserError("idx: cannot open " + path);
  unsigned char header[4];
  if (gzread(f.get(), header, 4) != 4 || header[0] != 0 || header[1] != 0)
    throw UserError("idx: " + path + " is not an IDX file (bad magic number)");
  if (header[2] != 0x08)
    throw UserError("idx: " + path + " holds element type " + std::to_string(header[2]) +
                    "; only unsigned bytes (0x08) are supported");
  const int dims = header[3];
  if (dims < 1 || dims > 4)
    throw UserError("idx: " + path + " has " + std::to_string(dims) + " dimensions");
  std::vector<int64_t> shape;
  int64_t total = 1;
  for (int i = 0; i < dims; ++i) {
    unsigned char b[4];
    if (gzread(f.get(), b, 4) != 4) throw UserError("idx: " + path + " is truncated in its header");
    shape.push_back(big_endian(b));
    total *= shape.back();
  }
  auto data = torch::empty(shape, torch::kUInt8);
  const int got = gzread(f.get(), data.data_ptr(), static_cast<unsigned>(total));
  if (got != total)
    throw UserError("idx: " + path + " is truncated: " + std::to_string(std::max(got, 0)) + " of " +
                    std::to_string(total) + " data bytes");
  unsigned char extra;
  if (gzread(f.get(), &extra, 1) != 0)
    throw UserError("idx: " + path + " has bytes after its " + std::to_string(total) +
                    " data bytes");
  return data;
}

Dataset read_idx_dataset(const std::string& dir, const std::string& name) {
  auto load = [&](const std::string& images_stem, const std::string& labels_stem) {
    const std::string image_path = find_idx(dir, images_stem),
                      label_path = find_idx(dir, labels_stem);
    auto images = read_idx(image_path);
    auto labels = read_idx(label_path);
    if (images.dim() != 3 || labels.dim() != 1 || images.size(0) != labels.size(0))
      throw UserError("idx: " + image_path + " and " + label_path + " do not match (" +
                      std::to_string(images.size(0)) + " images, " +
                      std::to_string(labels.size(0)) + " labels)");
    if (labels.max().item<int64_t>() > 9)
      throw UserError("idx: " + label_path + " holds a label above 9");
    return Split{images.unsqueeze(1).contiguous(), labels.to(torch::kLong)};
  };
  Dataset d;
  d.name = name;
  d.source = dir;
  d.classes = 10;
  d.train = load("train-images-idx3-ubyte", "train-labels-idx1-ubyte");
  d.test = load("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");
  return d;
}

}  // namespace parallax
