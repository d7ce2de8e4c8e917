// Dataset readers on generated files: exact values land in the right place; corrupt files are
// refused with a message that names the file.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "config/user_error.h"
#include "data/cifar10.h"
#include "data/idx.h"
#include "data/info.h"
#include "test_util.h"

namespace parallax {
namespace {

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Record r: label r % 10; pixel (c, y, x) = (r + 3c + 5y + 7x) % 256.
std::vector<uint8_t> cifar_records(int64_t records, int64_t first = 0) {
  std::vector<uint8_t> b;
  b.reserve(records * kCifarRecordBytes);
  for (int64_t r = first; r < first + records; ++r) {
    b.push_back(static_cast<uint8_t>(r % 10));
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x)
          b.push_back(static_cast<uint8_t>((r + 3 * c + 5 * y + 7 * x) % 256));
  }
  return b;
}

// Expects a UserError whose message contains `needle` (usually the file's path).
template <typename F>
void expect_user_error(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one naming " << needle;
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Cifar10, RecordsLandInChannelMajorImagesWithTheirLabels) {
  testing::TempDir dir;
  write_bytes(dir / "b.bin", cifar_records(5));
  const Split s = read_cifar10_file(dir / "b.bin", 5);
  ASSERT_EQ(s.images.sizes(), (std::vector<int64_t>{5, 3, 32, 32}));
  EXPECT_EQ(s.labels[3].item<int64_t>(), 3);
  EXPECT_EQ(s.images[4][2][10][31].item<uint8_t>(), (4 + 6 + 50 + 217) % 256);
  EXPECT_EQ(s.images[0][0][0][1].item<uint8_t>(), 7);
}

TEST(Cifar10, FullFolderReadsFiftyThousandAndTenThousand) {
  testing::TempDir dir;
  const std::string base = dir / "cifar-10-batches-bin";
  std::filesystem::create_directories(base);
  for (int i = 1; i <= 5; ++i)
    write_bytes(base + "/data_batch_" + std::to_string(i) + ".bin",
                cifar_records(kCifarRecordsPerFile, (i - 1) * kCifarRecordsPerFile));
  write_bytes(base + "/test_batch.bin", cifar_records(kCifarRecordsPerFile, 7));
  const Dataset d = read_cifar10(dir.path());  // the parent folder is accepted too
  EXPECT_EQ(d.train.size(), 50000);
  EXPECT_EQ(d.test.size(), 10000);
  EXPECT_EQ(d.train.labels[23457].item<int64_t>(), 7);
  EXPECT_EQ(d.train.images[23457][1][2][3].item<uint8_t>(), (23457 + 3 + 10 + 21) % 256);
  EXPECT_EQ(d.test.labels[0].item<int64_t>(), 7);
  EXPECT_NE(describe_data_path(base).find("train: 50000 images of 3x32x32"), std::string::npos);

  std::filesystem::remove(base + "/data_batch_4.bin");
  expect_user_error([&] { read_cifar10(base); }, "data_batch_4.bin");
}

TEST(Cifar10, TruncatedOversizedAndBadLabelFilesAreRefusedByName) {
  testing::TempDir dir;
  auto bytes = cifar_records(3);
  bytes.pop_back();
  write_bytes(dir / "short.bin", bytes);
  expect_user_error([&] { read_cifar10_file(dir / "short.bin", 3); }, dir / "short.bin");
  bytes = cifar_records(4);
  write_bytes(dir / "long.bin", bytes);
  expect_user_error([&] { read_cifar10_file(dir / "long.bin", 3); }, dir / "long.bin");
  bytes = cifar_records(3);
  bytes[kCifarRecordBytes] = 10;  // label of record 1
  write_bytes(dir / "label.bin", bytes);
  expect_user_error([&] { read_cifar10_file(dir / "label.bin", 3); }, "label 10");
  expect_user_error([&] { read_cifar10_file(dir / "none.bin", 3); }, dir / "none.bin");
}

std::vector<uint8_t> idx_file(std::vector<uint32_t> dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

TEST(Idx, ReadsPlainAndGzippedFilesAlike) {
  testing::TempDir dir;
  std::vector<uint8_t> pixels(2 * 3 * 4);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 10);
  write_bytes(dir / "plain", idx_file({2, 3, 4}, pixels));
  write_gz(dir / "packed.gz", idx_file({2, 3, 4}, pixels));
  for (const std::string name : {"plain", "packed.gz"}) {
    const auto t = read_idx(dir / name);
    EXPECT_EQ(t.sizes(), (std::vector<int64_t>{2, 3, 4})) << name;
    EXPECT_EQ(t[1][2][3].item<uint8_t>(), 230) << name;
  }
}

TEST(Idx, WrongMagicTruncatedAndTrailingBytesAreRefusedByName) {
  testing::TempDir dir;
  auto good = idx_file({4}, {1, 2, 3, 4});
  auto bad_magic = good;
  bad_magic[0] = 7;
  write_bytes(dir / "magic", bad_magic);
  expect_user_error([&] { read_idx(dir / "magic"); }, dir / "magic");
  write_bytes(dir / "short", std::vector<uint8_t>(good.begin(), good.end() - 1));
  expect_user_error([&] { read_idx(dir / "short"); }, "truncated");
  auto longer = good;
  longer.push_back(9);
  write_gz(dir / "long.gz", longer);
  expect_user_error([&] { read_idx(dir / "long.gz"); }, "bytes after");
}

TEST(Idx, DatasetFolderGivesOneChannelImagesAndInt64Labels) {
  testing::TempDir dir;
  write_gz(dir / "train-images-idx3-ubyte.gz",
           idx_file({3, 28, 28}, std::vector<uint8_t>(3 * 784, 5)));
  write_gz(dir / "train-labels-idx1-ubyte.gz", idx_file({3}, {0, 9, 4}));
  write_bytes(dir / "t10k-images-idx3-ubyte", idx_file({1, 28, 28}, std::vector<uint8_t>(784, 1)));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_file({1}, {2}));
  const Dataset d = read_idx_dataset(dir.path(), "mnist");
  EXPECT_EQ(d.train.images.sizes(), (std::vector<int64_t>{3, 1, 28, 28}));
  EXPECT_EQ(d.train.labels.scalar_type(), torch::kLong);
  EXPECT_EQ(d.train.labels[1].item<int64_t>(), 9);
  EXPECT_EQ(d.test.size(), 1);
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_file({2}, {2, 3}));  // 2 labels for 1 image
  expect_user_error([&] { read_idx_dataset(dir.path(), "mnist"); }, "do not match");
}

TEST(Idx, RealFashionMnistFromDebianPackage) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const Dataset d = read_idx_dataset(dir, "fashion-mnist");
  EXPECT_EQ(d.train.size(), 60000);
  EXPECT_EQ(d.test.size(), 10000);
  EXPECT_TRUE(torch::equal(torch::bincount(d.train.labels), torch::full({10}, 6000, torch::kLong)));
}

}  // namespace
}  // namespace parallax
