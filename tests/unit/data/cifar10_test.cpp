// CIFAR-10 reader and `data info` on generated batch files: every byte lands at its [N, C, H, W]
// place with its label, and broken files are refused with an error naming the file.
#include <gtest/gtest.h>
#include <torch/types.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "config/user_error.h"
#include "data/cifar10.h"
#include "data/info.h"
#include "test_util.h"

namespace parallax {
namespace {

using testing::expect_user_error;
namespace fs = std::filesystem;

void write_cifar_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

uint8_t pixel(int64_t r, int c, int y, int x) {
  return static_cast<uint8_t>((r * 13 + 3 * c + 5 * y + 7 * x) % 256);
}
int64_t label_of(int64_t r) {
  return (r * 7 + 3) % 10;
}

// Records first..first+count-1: label label_of(r); pixel (c, y, x) = pixel(r, c, y, x).
std::vector<uint8_t> cifar_records(int64_t count, int64_t first = 0) {
  uint8_t base[3 * 32 * 32];  // pixel(0, c, y, x); record r adds 13 r, modulo 256 by wrapping
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) base[(c * 32 + y) * 32 + x] = pixel(0, c, y, x);
  std::vector<uint8_t> b(count * kCifarRecordBytes);
  for (int64_t i = 0; i < count; ++i) {
    uint8_t* rec = b.data() + i * kCifarRecordBytes;
    const auto shift = static_cast<uint8_t>((first + i) * 13);
    rec[0] = static_cast<uint8_t>(label_of(first + i));
    for (int k = 0; k < 3 * 32 * 32; ++k) rec[1 + k] = static_cast<uint8_t>(base[k] + shift);
  }
  return b;
}

// The same formula computed by tensor ops, independent of the byte layout above. The sum is
// taken in uint8, whose wrap-around is the modulo 256, so the result is one byte per pixel.
torch::Tensor expected_images(int64_t count, int64_t first) {
  auto c = torch::arange(3, torch::kLong).view({3, 1, 1});
  auto y = torch::arange(32, torch::kLong).view({1, 32, 1});
  auto x = torch::arange(32, torch::kLong).view({1, 1, 32});
  auto base = (c * 3 + y * 5 + x * 7).remainder(256).to(torch::kUInt8).unsqueeze(0);
  auto shift = torch::arange(first, first + count, torch::kLong).mul(13).remainder(256);
  return shift.to(torch::kUInt8).view({-1, 1, 1, 1}) + base;
}

TEST(Cifar10File, RecordsLandChannelMajorWithTheirLabels) {
  testing::TempDir dir;
  write_cifar_bytes(dir / "b.bin", cifar_records(5, 100));
  const Split s = read_cifar10_file(dir / "b.bin", 5);
  ASSERT_EQ(s.images.sizes(), (std::vector<int64_t>{5, 3, 32, 32}));
  ASSERT_EQ(s.images.scalar_type(), torch::kUInt8);
  ASSERT_EQ(s.labels.scalar_type(), torch::kLong);
  EXPECT_TRUE(s.images.is_contiguous());
  EXPECT_EQ(s.labels[3].item<int64_t>(), label_of(103));
  // Channel 2, row 10, column 31 of record 104: channel-major, not interleaved RGB.
  EXPECT_EQ(s.images[4][2][10][31].item<int>(), pixel(104, 2, 10, 31));
  EXPECT_EQ(s.images[0][1][0][0].item<int>(), pixel(100, 1, 0, 0));
  EXPECT_TRUE(torch::equal(s.images, expected_images(5, 100)));
  EXPECT_TRUE(torch::equal(s.labels, torch::tensor({3, 0, 7, 4, 1}, torch::kLong)));
}

TEST(Cifar10File, BrokenFilesAreRefusedByName) {
  testing::TempDir dir;
  auto bytes = cifar_records(3);
  bytes.pop_back();
  write_cifar_bytes(dir / "short.bin", bytes);
  expect_user_error([&] { read_cifar10_file(dir / "short.bin", 3); },
                    {dir / "short.bin", "9218 bytes", "expected 9219"});
  write_cifar_bytes(dir / "long.bin", cifar_records(4));
  expect_user_error([&] { read_cifar10_file(dir / "long.bin", 3); },
                    {dir / "long.bin", "(4 records)", "expected 9219"});
  bytes = cifar_records(3);
  bytes[2 * kCifarRecordBytes] = 10;  // label of record 2
  write_cifar_bytes(dir / "label.bin", bytes);
  expect_user_error([&] { read_cifar10_file(dir / "label.bin", 3); },
                    {dir / "label.bin", "label 10 in record 2"});
  expect_user_error([&] { read_cifar10_file(dir / "none.bin", 3); }, {dir / "none.bin", "missing"});
  fs::create_directories(dir / "folder.bin");
  expect_user_error([&] { read_cifar10_file(dir / "folder.bin", 3); }, {dir / "folder.bin"});
}

// One full-size folder (6 x 10000 records, 184 MB) shared by the tests below: writing it is the
// slow part, and each test that breaks a file does so in its own folder of links to these files.
class Cifar10Folder : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new testing::TempDir();
    const std::string base = *root_ / "cifar-10-batches-bin";
    fs::create_directories(base);
    for (int i = 1; i <= 5; ++i)
      write_cifar_bytes(base + "/data_batch_" + std::to_string(i) + ".bin",
                        cifar_records(kCifarRecordsPerFile, (i - 1) * kCifarRecordsPerFile));
    write_cifar_bytes(base + "/test_batch.bin", cifar_records(kCifarRecordsPerFile, 90000));
  }
  static void TearDownTestSuite() {
    delete root_;
    root_ = nullptr;
  }
  static std::string batches() { return *root_ / "cifar-10-batches-bin"; }
  // A folder of symlinks to the shared files, except `replaced`, which the test writes itself.
  static void link_all_but(const std::string& into, const std::string& replaced) {
    for (const auto& e : fs::directory_iterator(batches()))
      if (e.path().filename() != replaced)
        fs::create_symlink(e.path(), fs::path(into) / e.path().filename());
  }
  static testing::TempDir* root_;
};
testing::TempDir* Cifar10Folder::root_ = nullptr;

TEST_F(Cifar10Folder, ParentOrBatchesFolderGivesTrainAndTestInFileOrder) {
  for (const std::string& dir : {root_->path(), batches()}) {
    const Dataset d = read_cifar10(dir);
    EXPECT_EQ(d.name, "cifar10");
    EXPECT_EQ(d.source, batches());
    EXPECT_EQ(d.classes, 10);
    ASSERT_EQ(d.train.images.sizes(), (std::vector<int64_t>{50000, 3, 32, 32}));
    ASSERT_EQ(d.test.images.sizes(), (std::vector<int64_t>{10000, 3, 32, 32}));
    EXPECT_EQ(d.train.labels.scalar_type(), torch::kLong);
    EXPECT_TRUE(d.train.images.is_contiguous());
    // Record 23457 is record 3457 of data_batch_3.bin.
    EXPECT_EQ(d.train.labels[23457].item<int64_t>(), label_of(23457));
    EXPECT_EQ(d.train.images[23457][1][2][3].item<int>(), pixel(23457, 1, 2, 3));
    EXPECT_TRUE(torch::equal(d.train.images, expected_images(50000, 0)));
    EXPECT_TRUE(torch::equal(d.train.labels, torch::arange(50000).mul(7).add(3).remainder(10)));
    EXPECT_TRUE(torch::equal(d.test.images, expected_images(10000, 90000)));
    EXPECT_EQ(d.test.labels[9999].item<int64_t>(), label_of(99999));
  }
}

TEST_F(Cifar10Folder, MissingTruncatedAndBadLabelFilesAreNamed) {
  testing::TempDir missing;
  link_all_but(missing.path(), "data_batch_4.bin");
  expect_user_error([&] { read_cifar10(missing.path()); },
                    {missing / "data_batch_4.bin", "missing", "parallax data download cifar10"});

  testing::TempDir truncated;
  link_all_but(truncated.path(), "test_batch.bin");
  auto bytes = cifar_records(kCifarRecordsPerFile);
  bytes.resize(bytes.size() - 100);
  write_cifar_bytes(truncated / "test_batch.bin", bytes);
  expect_user_error([&] { read_cifar10(truncated.path()); },
                    {truncated / "test_batch.bin", "expected 30730000"});

  testing::TempDir oversized;
  link_all_but(oversized.path(), "data_batch_1.bin");
  write_cifar_bytes(oversized / "data_batch_1.bin", cifar_records(kCifarRecordsPerFile + 1));
  expect_user_error([&] { read_cifar10(oversized.path()); },
                    {oversized / "data_batch_1.bin", "(10001 records)"});

  testing::TempDir bad_label;
  link_all_but(bad_label.path(), "data_batch_5.bin");
  bytes = cifar_records(kCifarRecordsPerFile);
  bytes[1234 * kCifarRecordBytes] = 255;
  write_cifar_bytes(bad_label / "data_batch_5.bin", bytes);
  expect_user_error([&] { read_cifar10(bad_label.path()); },
                    {bad_label / "data_batch_5.bin", "label 255 in record 1234"});

  expect_user_error([&] { read_cifar10(*root_ / "nowhere"); },
                    {*root_ / "nowhere", "parallax data download cifar10 --dir"});
}

TEST_F(Cifar10Folder, InfoShowsSplitsLabelCountsAndPixelStatistics) {
  const std::string info = describe_data_path(root_->path());
  EXPECT_NE(info.find("format: CIFAR-10 binary in " + batches()), std::string::npos) << info;
  EXPECT_NE(info.find("train: 50000 images of 3x32x32; labels 0:5000 1:5000"), std::string::npos)
      << info;
  EXPECT_NE(info.find("test: 10000 images of 3x32x32"), std::string::npos) << info;
  // Channel statistics of the generated pixels, summed exactly in integers by a plain loop.
  const Dataset d = read_cifar10(root_->path());
  const uint8_t* p = d.train.images.data_ptr<uint8_t>();
  uint64_t sum[2] = {0, 0}, sum_sq[2] = {0, 0};
  for (int64_t i = 0; i < 50000; ++i)
    for (int c = 0; c < 2; ++c)
      for (int k = 0; k < 1024; ++k) {
        const uint64_t v = p[(i * 3 + c) * 1024 + k];
        sum[c] += v;
        sum_sq[c] += v * v;
      }
  const double n = 50000.0 * 1024;
  double mean[2], stdev[2];
  for (int c = 0; c < 2; ++c) {
    mean[c] = static_cast<double>(sum[c]) / n / 255;
    stdev[c] = std::sqrt(static_cast<double>(sum_sq[c]) / n / (255.0 * 255) - mean[c] * mean[c]);
  }
  char expected[64];
  std::snprintf(expected, sizeof(expected), "%.4f/%.4f %.4f/%.4f", mean[0], stdev[0], mean[1],
                stdev[1]);
  EXPECT_NE(info.find(std::string("(0..1): ") + expected), std::string::npos)
      << info << "\nlacks: " << expected;
}

TEST(Cifar10Info, SingleBatchFileAndUnknownInputs) {
  testing::TempDir dir;
  auto bytes = cifar_records(20);
  for (int64_t r = 0; r < 20; ++r) bytes[r * kCifarRecordBytes] = r < 15 ? 4 : 9;
  write_cifar_bytes(dir / "b.bin", bytes);
  const std::string info = describe_data_path(dir / "b.bin");
  EXPECT_NE(info.find("20 records"), std::string::npos) << info;
  EXPECT_NE(info.find("0:0 1:0 2:0 3:0 4:15 5:0 6:0 7:0 8:0 9:5"), std::string::npos) << info;

  write_cifar_bytes(dir / "odd.bin", std::vector<uint8_t>(5000, 1));
  expect_user_error([&] { describe_data_path(dir / "odd.bin"); },
                    {dir / "odd.bin", "not a whole number", "IDX"});
  write_cifar_bytes(dir / "notes.txt", std::vector<uint8_t>(100, 'a'));
  expect_user_error([&] { describe_data_path(dir / "notes.txt"); },
                    {dir / "notes.txt", "CIFAR-10", "IDX"});
  testing::TempDir empty;
  expect_user_error([&] { describe_data_path(empty.path()); }, {empty.path(), "CIFAR-10", "IDX"});
  expect_user_error([&] { describe_data_path(dir / "nothing"); }, {dir / "nothing", "IDX"});
}

}  // namespace
}  // namespace parallax
