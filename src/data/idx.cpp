// IDX reader through zlib's gzread, which reads plain files transparently; sizes are checked
// before the payload is allocated, so a corrupt header cannot ask for gigabytes.
#include "data/idx.h"

#include <torch/types.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "config/user_error.h"

namespace parallax {
namespace fs = std::filesystem;
namespace {

constexpr uint32_t kLabelsMagic = 0x00000801;
constexpr uint32_t kImagesMagic = 0x00000803;
// Deflate cannot compress better than about 1032:1, so a gzip file of S bytes holds at most
// ~1032 S bytes; anything the header claims beyond that is a corrupt or truncated file.
constexpr int64_t kMaxDeflateRatio = 1100;
constexpr unsigned kReadChunk = 1u << 30;  // gzread takes an unsigned and returns an int

uint32_t big_endian(const unsigned char* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

using GzFile = std::unique_ptr<gzFile_s, int (*)(gzFile)>;

std::string zlib_message(gzFile f) {
  int code = Z_OK;
  const char* msg = gzerror(f, &code);
  return code == Z_OK ? std::string() : std::string(msg ? msg : "unknown zlib error");
}

// Reads up to n bytes; fewer only at the end of the data. UserError if the gzip stream is corrupt.
int64_t read_fully(gzFile f, void* dest, int64_t n, const std::string& path) {
  int64_t done = 0;
  auto* out = static_cast<unsigned char*>(dest);
  while (done < n) {
    const unsigned want = static_cast<unsigned>(std::min<int64_t>(n - done, kReadChunk));
    const int got = gzread(f, out + done, want);
    if (got < 0)
      throw UserError("idx: " + path + " is corrupt (zlib: " + zlib_message(f) +
                      "); download it again");
    if (got == 0) break;
    done += got;
  }
  return done;
}

}  // namespace

std::string find_idx_file(const std::string& dir, const std::string& stem) {
  for (const std::string& name : {stem, stem + ".gz"}) {
    const std::string path = (fs::path(dir) / name).string();
    if (fs::is_regular_file(path)) return path;
  }
  return "";
}

torch::Tensor read_idx(const std::string& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) throw UserError("idx: " + path + " is missing");
  if (!fs::is_regular_file(status)) throw UserError("idx: " + path + " is not a regular file");
  const int64_t file_bytes = static_cast<int64_t>(fs::file_size(path, ec));
  GzFile f(gzopen(path.c_str(), "rb"), gzclose);
  if (!f) throw UserError("idx: cannot open " + path + ": " + std::strerror(errno));
  gzbuffer(f.get(), 1u << 18);  // fewer syscalls for the 47 MB MNIST image file

  unsigned char header[4];
  const uint32_t magic = read_fully(f.get(), header, 4, path) == 4 ? big_endian(header) : 0;
  if (magic != kLabelsMagic && magic != kImagesMagic)
    throw UserError("idx: " + path + " has magic number " + hex32(magic) + ", expected " +
                    hex32(kLabelsMagic) + " (labels) or " + hex32(kImagesMagic) +
                    " (images); it is not an unsigned-byte IDX file");
  const int dims = header[3];
  const int64_t header_bytes = 4 + 4 * dims;
  std::vector<int64_t> shape;
  int64_t total = 1;
  for (int i = 0; i < dims; ++i) {
    unsigned char b[4];
    if (read_fully(f.get(), b, 4, path) != 4)
      throw UserError("idx: " + path + " is truncated in its header; download it again");
    shape.push_back(big_endian(b));
    // Each size is < 2^32, so checking against 2^40 before multiplying cannot overflow int64.
    total *= shape.back();
    if (total > (int64_t{1} << 40))
      throw UserError("idx: " + path + " claims more than 2^40 bytes of data; it is corrupt");
  }

  const bool plain = gzdirect(f.get()) == 1;
  if (plain && header_bytes + total != file_bytes) {
    const int64_t have = file_bytes - header_bytes;
    if (have < total)
      throw UserError("idx: " + path + " is truncated: " + std::to_string(have) + " of " +
                      std::to_string(total) + " data bytes; download it again");
    throw UserError("idx: " + path + " has " + std::to_string(have - total) + " bytes after its " +
                    std::to_string(total) + " data bytes");
  }
  if (!plain && total > kMaxDeflateRatio * file_bytes + (1 << 20))
    throw UserError("idx: " + path + " is truncated or corrupt: its header promises " +
                    std::to_string(total) + " data bytes, more than a " +
                    std::to_string(file_bytes) + "-byte gzip file can hold");

  torch::Tensor data = torch::empty(shape, torch::kUInt8);
  const int64_t got = read_fully(f.get(), data.data_ptr<uint8_t>(), total, path);
  const std::string zerr = zlib_message(f.get());  // e.g. "unexpected end of file" in the gzip
  if (got != total)
    throw UserError("idx: " + path + " is truncated: " + std::to_string(got) + " of " +
                    std::to_string(total) + " data bytes" +
                    (zerr.empty() ? "" : " (" + zerr + ")") + "; download it again");
  unsigned char extra;
  // This read also reaches the gzip trailer, where zlib checks the CRC of everything read.
  if (read_fully(f.get(), &extra, 1, path) != 0)
    throw UserError("idx: " + path + " has bytes after its " + std::to_string(total) +
                    " data bytes");
  const std::string trailer_err = zlib_message(f.get());
  if (!trailer_err.empty())
    throw UserError("idx: " + path + " is truncated or corrupt (zlib: " + trailer_err +
                    "); download it again");
  return data;
}

Dataset read_idx_dataset(const std::string& dir, const std::string& name) {
  std::string fix = "give --data-dir with the four IDX files";
  if (name == "fashion-mnist") fix += ", or `apt-get install dataset-fashion-mnist`";
  if (!fs::is_directory(dir)) throw UserError(name + ": " + dir + " is not a folder; " + fix);
  auto find = [&](const std::string& stem) {
    const std::string path = find_idx_file(dir, stem);
    if (path.empty())
      throw UserError(name + ": " + (fs::path(dir) / stem).string() + "[.gz] is missing; " + fix);
    return path;
  };
  auto load = [&](const std::string& images_stem, const std::string& labels_stem) {
    const std::string image_path = find(images_stem), label_path = find(labels_stem);
    const torch::Tensor images = read_idx(image_path);
    const torch::Tensor labels = read_idx(label_path);
    if (images.dim() != 3)
      throw UserError(name + ": " + image_path + " holds labels, not images (magic 0x00000801)");
    if (labels.dim() != 1)
      throw UserError(name + ": " + label_path + " holds images, not labels (magic 0x00000803)");
    if (images.size(0) != labels.size(0))
      throw UserError(name + ": " + image_path + " and " + label_path + " do not match (" +
                      std::to_string(images.size(0)) + " images, " +
                      std::to_string(labels.size(0)) + " labels)");
    if (images.size(0) == 0) throw UserError(name + ": " + image_path + " holds no images");
    const torch::Tensor bad = labels.gt(9).nonzero();
    if (bad.size(0) > 0) {
      const int64_t i = bad[0][0].item<int64_t>();
      throw UserError(name + ": " + label_path + " holds label " +
                      std::to_string(labels[i].item<int64_t>()) + " at index " + std::to_string(i) +
                      ", expected 0..9");
    }
    return Split{images.unsqueeze(1), labels.to(torch::kLong)};
  };
  Dataset d;
  d.name = name;
  d.source = dir;
  d.classes = 10;
  d.train = load("train-images-idx3-ubyte", "train-labels-idx1-ubyte");
  d.test = load("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");
  if (d.train.images.sizes().slice(2) != d.test.images.sizes().slice(2))
    throw UserError(name + ": train images are " + std::to_string(d.train.images.size(2)) + "x" +
                    std::to_string(d.train.images.size(3)) + " but test images are " +
                    std::to_string(d.test.images.size(2)) + "x" +
                    std::to_string(d.test.images.size(3)) + " in " + dir);
  return d;
}

}  // namespace parallax
