// IDX reader on generated files (plain and gzipped, whole and broken) and on Debian's real
// Fashion-MNIST when the dataset-fashion-mnist package is installed.
#include <gtest/gtest.h>
#include <torch/types.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "config/user_error.h"
#include "data/idx.h"
#include "data/info.h"
#include "test_util.h"

namespace parallax {
namespace {

using testing::expect_user_error;
namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

void write_idx_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

Bytes read_bytes(const std::string& path) {
  const std::string s = testing::read_text(path);
  return Bytes(s.begin(), s.end());
}

void write_gz(const std::string& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

Bytes idx_file(const std::vector<uint32_t>& dims, const Bytes& data, uint8_t type = 0x08) {
  Bytes b = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

Bytes ramp(size_t n, int step) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * step % 251);
  return b;
}

TEST(Idx, PlainAndGzippedFilesGiveTheSameTensor) {
  testing::TempDir dir;
  const Bytes pixels = ramp(2 * 3 * 4, 10);
  write_idx_bytes(dir / "plain", idx_file({2, 3, 4}, pixels));
  write_gz(dir / "packed.gz", idx_file({2, 3, 4}, pixels));
  const auto expected = torch::arange(24, torch::kLong).mul(10).remainder(251).to(torch::kUInt8);
  for (const std::string name : {"plain", "packed.gz"}) {
    const auto t = read_idx(dir / name);
    ASSERT_EQ(t.sizes(), (std::vector<int64_t>{2, 3, 4})) << name;
    EXPECT_EQ(t.scalar_type(), torch::kUInt8) << name;
    EXPECT_EQ(t[1][2][3].item<int>(), 23 * 10 % 251) << name;  // row-major: index 1*12+2*4+3
    EXPECT_TRUE(torch::equal(t, expected.view({2, 3, 4}))) << name;
  }
  write_gz(dir / "labels.gz", idx_file({5}, {9, 0, 3, 3, 7}));
  EXPECT_TRUE(torch::equal(read_idx(dir / "labels.gz"),
                           torch::tensor({9, 0, 3, 3, 7}, torch::kLong).to(torch::kUInt8)));
}

TEST(Idx, WrongMagicNumbersAreRefusedByName) {
  testing::TempDir dir;
  write_idx_bytes(dir / "two_dims", idx_file({2, 2}, {1, 2, 3, 4}));
  expect_user_error([&] { read_idx(dir / "two_dims"); },
                    {dir / "two_dims", "0x00000802", "0x00000803"});
  write_gz(dir / "floats.gz", idx_file({1}, {0, 0, 0, 0}, 0x0D));
  expect_user_error([&] { read_idx(dir / "floats.gz"); }, {dir / "floats.gz", "0x00000d01"});
  write_idx_bytes(dir / "text", Bytes(100, 'a'));
  expect_user_error([&] { read_idx(dir / "text"); }, {dir / "text", "magic"});
  expect_user_error([&] { read_idx(dir / "absent.gz"); }, {dir / "absent.gz", "missing"});
}

TEST(Idx, TruncatedAndTrailingPayloadsAreRefusedByName) {
  testing::TempDir dir;
  const Bytes good = idx_file({4, 2, 2}, ramp(16, 3));
  write_idx_bytes(dir / "short", Bytes(good.begin(), good.end() - 1));
  expect_user_error([&] { read_idx(dir / "short"); }, {dir / "short", "truncated", "15 of 16"});
  write_gz(dir / "short.gz", Bytes(good.begin(), good.end() - 3));
  expect_user_error([&] { read_idx(dir / "short.gz"); },
                    {dir / "short.gz", "truncated", "13 of 16"});
  write_idx_bytes(dir / "header", Bytes(good.begin(), good.begin() + 9));
  expect_user_error([&] { read_idx(dir / "header"); }, {dir / "header", "header"});

  Bytes longer = good;
  longer.push_back(9);
  write_idx_bytes(dir / "long", longer);
  expect_user_error([&] { read_idx(dir / "long"); }, {dir / "long", "1 bytes after"});
  write_gz(dir / "long.gz", longer);
  expect_user_error([&] { read_idx(dir / "long.gz"); }, {dir / "long.gz", "bytes after"});
}

TEST(Idx, DamagedGzipStreamsAreRefusedByName) {
  testing::TempDir dir;
  write_gz(dir / "whole.gz", idx_file({300, 28, 28}, ramp(300 * 784, 7)));
  const Bytes gz = read_bytes(dir / "whole.gz");
  ASSERT_GT(gz.size(), 100u);
  // Cut in the middle of the deflate stream.
  write_idx_bytes(dir / "cut.gz", Bytes(gz.begin(), gz.begin() + static_cast<long>(gz.size() / 2)));
  expect_user_error([&] { read_idx(dir / "cut.gz"); }, {dir / "cut.gz", "truncated"});
  // Only the CRC in the trailer is wrong: the data decompresses, the check must still fail.
  Bytes bad_crc = gz;
  bad_crc[gz.size() - 8] ^= 0xFF;
  write_idx_bytes(dir / "crc.gz", bad_crc);
  expect_user_error([&] { read_idx(dir / "crc.gz"); }, {dir / "crc.gz", "corrupt"});
  // All data present but the trailer (CRC and length) cut off: still a truncated download.
  write_idx_bytes(dir / "notrailer.gz", Bytes(gz.begin(), gz.end() - 4));
  expect_user_error([&] { read_idx(dir / "notrailer.gz"); }, {dir / "notrailer.gz", "truncated"});
  // A header promising far more than a small gzip file can hold is refused before allocating.
  write_gz(dir / "huge.gz", idx_file({100000, 100000, 10}, ramp(64, 1)));
  expect_user_error([&] { read_idx(dir / "huge.gz"); }, {dir / "huge.gz", "100000000000"});
  write_idx_bytes(dir / "huge", idx_file({100000, 100000, 100000}, {}));
  expect_user_error([&] { read_idx(dir / "huge"); }, {dir / "huge", "corrupt"});
}

// Writes an IDX dataset folder: train images/labels gzipped, test ones plain (both are accepted).
void write_idx_folder(const std::string& dir, uint32_t rows, uint32_t cols,
                      const Bytes& train_labels, const Bytes& test_labels) {
  const auto n = static_cast<uint32_t>(train_labels.size());
  const auto m = static_cast<uint32_t>(test_labels.size());
  write_gz(dir + "/train-images-idx3-ubyte.gz",
           idx_file({n, rows, cols}, ramp(n * rows * cols, 1)));
  write_gz(dir + "/train-labels-idx1-ubyte.gz", idx_file({n}, train_labels));
  write_idx_bytes(dir + "/t10k-images-idx3-ubyte",
                  idx_file({m, rows, cols}, ramp(m * rows * cols, 2)));
  write_idx_bytes(dir + "/t10k-labels-idx1-ubyte", idx_file({m}, test_labels));
}

TEST(IdxDataset, FolderGivesOneChannelImagesAndInt64Labels) {
  testing::TempDir dir;
  write_idx_folder(dir.path(), 5, 7, {0, 9, 4}, {2, 2});
  const Dataset d = read_idx_dataset(dir.path(), "mnist");
  EXPECT_EQ(d.name, "mnist");
  EXPECT_EQ(d.source, dir.path());
  EXPECT_EQ(d.classes, 10);
  ASSERT_EQ(d.train.images.sizes(), (std::vector<int64_t>{3, 1, 5, 7}));
  ASSERT_EQ(d.test.images.sizes(), (std::vector<int64_t>{2, 1, 5, 7}));
  EXPECT_EQ(d.train.labels.scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(d.train.labels, torch::tensor({0, 9, 4}, torch::kLong)));
  // Image 2, row 4, column 6 is byte 2*35 + 4*7 + 6 = 104 of the ramp.
  EXPECT_EQ(d.train.images[2][0][4][6].item<int>(), 104);
  EXPECT_EQ(d.test.images[1][0][0][1].item<int>(), 36 * 2);
  EXPECT_EQ(d.channels(), 1);
  EXPECT_EQ(d.height(), 5);
  EXPECT_EQ(d.width(), 7);

  const std::string info = describe_data_path(dir.path());
  EXPECT_NE(info.find("train: 3 images of 1x5x7; labels 0:1 1:0 2:0 3:0 4:1"), std::string::npos)
      << info;
  EXPECT_NE(info.find("test: 2 images of 1x5x7; labels 0:0 1:0 2:2 3:0 4:0 5:0 6:0 7:0 8:0 9:0\n"),
            std::string::npos)
      << info;
  EXPECT_NE(describe_data_path(dir / "train-labels-idx1-ubyte.gz").find("shape [3]"),
            std::string::npos);
}

TEST(IdxDataset, MismatchedMissingAndBadLabelFilesAreRefusedByName) {
  testing::TempDir dir;
  write_idx_folder(dir.path(), 28, 28, {1, 2, 3}, {4});
  write_idx_bytes(dir / "t10k-labels-idx1-ubyte", idx_file({2}, {2, 3}));  // 2 labels for 1 image
  expect_user_error([&] { read_idx_dataset(dir.path(), "mnist"); },
                    {dir / "t10k-labels-idx1-ubyte", "1 images, 2 labels"});
  write_idx_bytes(dir / "t10k-labels-idx1-ubyte", idx_file({1}, {10}));
  expect_user_error([&] { read_idx_dataset(dir.path(), "mnist"); },
                    {dir / "t10k-labels-idx1-ubyte", "label 10 at index 0"});
  // Labels where images belong: the magic says so, and the message names the file.
  write_idx_bytes(dir / "t10k-images-idx3-ubyte", idx_file({1}, {1}));
  expect_user_error([&] { read_idx_dataset(dir.path(), "mnist"); },
                    {dir / "t10k-images-idx3-ubyte", "holds labels"});
  write_idx_bytes(dir / "t10k-images-idx3-ubyte", idx_file({1, 28, 27}, ramp(28 * 27, 1)));
  write_idx_bytes(dir / "t10k-labels-idx1-ubyte", idx_file({1}, {0}));
  expect_user_error([&] { read_idx_dataset(dir.path(), "mnist"); }, {"28x28", "28x27"});
  fs::remove(dir / "train-labels-idx1-ubyte.gz");
  expect_user_error(
      [&] { read_idx_dataset(dir.path(), "fashion-mnist"); },
      {"fashion-mnist", dir / "train-labels-idx1-ubyte[.gz]", "dataset-fashion-mnist"});
}

TEST(IdxDataset, RealFashionMnistFromDebianPackage) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const Dataset d = read_idx_dataset(dir, "fashion-mnist");
  ASSERT_EQ(d.train.images.sizes(), (std::vector<int64_t>{60000, 1, 28, 28}));
  ASSERT_EQ(d.test.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_TRUE(torch::equal(torch::bincount(d.train.labels), torch::full({10}, 6000, torch::kLong)));
  EXPECT_TRUE(torch::equal(torch::bincount(d.test.labels), torch::full({10}, 1000, torch::kLong)));
  // Known values of the published files: the first train image is an ankle boot (9), then two
  // T-shirts; the first test labels are 9 2 1 1 6.
  EXPECT_TRUE(torch::equal(d.train.labels.narrow(0, 0, 3), torch::tensor({9, 0, 0}, torch::kLong)));
  EXPECT_TRUE(
      torch::equal(d.test.labels.narrow(0, 0, 5), torch::tensor({9, 2, 1, 1, 6}, torch::kLong)));
  EXPECT_EQ(d.train.images[0][0][14][14].item<int>(), 217);
  EXPECT_EQ(d.train.images[1][0][10][5].item<int>(), 223);
  EXPECT_EQ(d.test.images[1][0][10][5].item<int>(), 255);
  const std::string info = describe_data_path(dir);
  EXPECT_NE(info.find("pixel mean/std per channel (0..1): 0.2860/0.3530"), std::string::npos)
      << info;
}

}  // namespace
}  // namespace parallax
