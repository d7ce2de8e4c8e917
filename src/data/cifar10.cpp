// CIFAR-10 reader: one fread per file straight into tensor memory; labels and pixels are then
// split with tensor views, so no C++ loop touches a pixel.
#include "data/cifar10.h"

#include <sys/stat.h>
#include <torch/types.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "config/user_error.h"

namespace parallax {
namespace fs = std::filesystem;
namespace {

// The command that repairs a broken folder. The download writes dir/cifar-10-batches-bin, which
// read_cifar10(dir) prefers, so for a flat folder the folder itself is the right --dir too.
std::string fix_for(const std::string& batches_dir) {
  const fs::path p(batches_dir);
  std::string dir = (p.filename() == kCifarBatchesFolder ? p.parent_path() : p).string();
  if (dir.empty()) dir = ".";
  return "; re-download with `parallax data download cifar10 --dir " + dir + "`";
}

// Reads exactly `records` records of `path` into `dest` ([records, 3073] contiguous bytes).
void read_records(const std::string& path, int64_t records, uint8_t* dest, const std::string& fix) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) {
    if (errno == ENOENT) throw UserError("cifar10: " + path + " is missing" + fix);
    throw UserError("cifar10: cannot open " + path + ": " + std::strerror(errno) + fix);
  }
  // fstat on the open file (not a separate stat by name), so the size we check is the size we read.
  struct stat st {};
  if (::fstat(fileno(f.get()), &st) != 0 || !S_ISREG(st.st_mode))
    throw UserError("cifar10: " + path + " is not a regular file" + fix);
  const int64_t expected = records * kCifarRecordBytes;
  const int64_t size = st.st_size;
  if (size != expected) {
    const std::string held = size % kCifarRecordBytes == 0
                                 ? std::to_string(size / kCifarRecordBytes) + " records"
                                 : "not a whole number of records";
    throw UserError("cifar10: " + path + " is " + std::to_string(size) + " bytes (" + held +
                    "), expected " + std::to_string(expected) + " (" + std::to_string(records) +
                    " records of " + std::to_string(kCifarRecordBytes) + " bytes)" + fix);
  }
  const size_t got = std::fread(dest, 1, static_cast<size_t>(expected), f.get());
  if (static_cast<int64_t>(got) != expected)
    throw UserError("cifar10: cannot read " + path + " (" + std::to_string(got) + " of " +
                    std::to_string(expected) + " bytes)" + fix);
}

// Labels are the first column of the records; the first bad one is named so it can be found.
void check_labels(const torch::Tensor& raw_records, const std::string& path,
                  const std::string& fix) {
  const torch::Tensor bad = raw_records.select(1, 0).gt(9).nonzero();
  if (bad.size(0) == 0) return;
  const int64_t record = bad[0][0].item<int64_t>();
  const int64_t label = raw_records[record][0].item<int64_t>();
  throw UserError("cifar10: " + path + " holds label " + std::to_string(label) + " in record " +
                  std::to_string(record) + ", expected 0..9" + fix);
}

// [N, 3073] records -> Split. The pixel view has strides (3073, 1024, 32, 1), so the one copy is
// .contiguous(); the records buffer is freed when this returns.
Split split_records(const torch::Tensor& raw) {
  const int64_t n = raw.size(0);
  Split s;
  s.labels = raw.select(1, 0).to(torch::kLong);
  s.images = raw.narrow(1, 1, kCifarRecordBytes - 1).view({n, 3, 32, 32}).contiguous();
  return s;
}

}  // namespace

std::string cifar10_batches_dir(const std::string& dir) {
  const std::string nested = (fs::path(dir) / kCifarBatchesFolder).string();
  return fs::is_directory(nested) ? nested : dir;
}

Split read_cifar10_file(const std::string& path, int64_t records) {
  const std::string fix = fix_for(fs::path(path).parent_path().string());
  if (records <= 0)
    throw UserError("cifar10: " + path + ": a batch file needs at least one record" + fix);
  torch::Tensor raw = torch::empty({records, kCifarRecordBytes}, torch::kUInt8);
  read_records(path, records, raw.data_ptr<uint8_t>(), fix);
  check_labels(raw, path, fix);
  return split_records(raw);
}

Dataset read_cifar10(const std::string& dir) {
  if (!fs::is_directory(dir))
    throw UserError("cifar10: " + dir + " is not a folder; download it with " +
                    "`parallax data download cifar10 --dir " + dir + "`");
  const std::string base = cifar10_batches_dir(dir);
  const std::string fix = fix_for(base);
  constexpr int kTrainFiles = 5;
  // All five train files go into one buffer, so the train split is built with a single copy.
  torch::Tensor raw =
      torch::empty({kTrainFiles * kCifarRecordsPerFile, kCifarRecordBytes}, torch::kUInt8);
  for (int i = 0; i < kTrainFiles; ++i) {
    const std::string path = base + "/data_batch_" + std::to_string(i + 1) + ".bin";
    torch::Tensor part = raw.narrow(0, i * kCifarRecordsPerFile, kCifarRecordsPerFile);
    read_records(path, kCifarRecordsPerFile, part.data_ptr<uint8_t>(), fix);
    check_labels(part, path, fix);
  }
  Dataset d;
  d.name = "cifar10";
  d.source = base;
  d.classes = 10;
  d.train = split_records(raw);
  raw = torch::Tensor();
  const std::string test_path = base + "/test_batch.bin";
  torch::Tensor test_raw = torch::empty({kCifarRecordsPerFile, kCifarRecordBytes}, torch::kUInt8);
  read_records(test_path, kCifarRecordsPerFile, test_raw.data_ptr<uint8_t>(), fix);
  check_labels(test_raw, test_path, fix);
  d.test = split_records(test_raw);
  return d;
}

}  // namespace parallax
