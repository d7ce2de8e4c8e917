// Download over file:// URLs (no network): MD5 checked, extraction atomic, partial files resumed
// from exactly where they stopped, a valid existing folder left alone. A build without the
// downloader (-DPARALLAX_DOWNLOAD=OFF, the GPU check's) checks its stand-in and skips the rest.
#ifndef PARALLAX_NO_DOWNLOAD
#include <archive.h>
#include <archive_entry.h>
#endif
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "config/user_error.h"
#include "data/cifar10.h"
#include "data/download.h"
#include "test_util.h"

namespace parallax {
namespace {

using testing::expect_user_error;
namespace fs = std::filesystem;
using Files = std::map<std::string, std::string>;  // path inside the archive -> contents

#ifdef PARALLAX_NO_DOWNLOAD
TEST(Download, WithoutTheDownloaderSaysHowToGetTheDataInOneLine) {
  expect_user_error([] { download_cifar10("data/c10", "https://example.org/c.tar.gz"); },
                    {"-DPARALLAX_DOWNLOAD=OFF", "https://example.org/c.tar.gz",
                     "data/c10/cifar-10-batches-bin", "-DPARALLAX_DOWNLOAD=ON"});
}
TEST(Download, FetchesVerifiesAndExtracts) {
  GTEST_SKIP() << "built with -DPARALLAX_DOWNLOAD=OFF: no libcurl, libarchive or OpenSSL to fetch, "
                  "extract or checksum with";
}
#else

const char* const kBatchNames[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                   "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};

void write_text(const std::string& path, const std::string& s) {
  std::ofstream(path, std::ios::binary) << s;
}

// Two CIFAR records per file, each file different, so a mixed-up extraction shows.
Files small_cifar() {
  Files files;
  int seed = 0;
  for (const char* name : kBatchNames) {
    std::string body(2 * kCifarRecordBytes, '\0');
    for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>((i * 31 + seed) % 256);
    body[0] = static_cast<char>(seed % 10);
    body[kCifarRecordBytes] = static_cast<char>((seed + 1) % 10);
    files[std::string("cifar-10-batches-bin/") + name] = body;
    ++seed;
  }
  return files;
}

void make_archive(const std::string& path, const Files& files) {
  archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& [name, body] : files) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(body.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
    ASSERT_EQ(archive_write_data(a, body.data(), body.size()),
              static_cast<la_ssize_t>(body.size()));
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

// The extracted folder holds exactly the archive's bytes, and nothing is left half-done.
void expect_extracted(const testing::TempDir& dst, const Files& files) {
  for (const auto& [name, body] : files) EXPECT_EQ(testing::read_text(dst / name), body) << name;
  EXPECT_EQ(
      read_cifar10_file(dst / "cifar-10-batches-bin/data_batch_3.bin", 2).labels[1].item<int64_t>(),
      3);
  EXPECT_FALSE(fs::exists(dst / "cifar-10-binary.tar.gz.part"));
  for (const auto& e : fs::directory_iterator(dst.path()))
    EXPECT_EQ(e.path().filename().string().rfind(".cifar-10-extract-", 0), std::string::npos)
        << "temporary folder left: " << e.path();
}

TEST(Md5, KnownDigests) {
  testing::TempDir dir;
  write_text(dir / "abc", "abc");
  write_text(dir / "empty", "");
  EXPECT_EQ(md5_of_file(dir / "abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(md5_of_file(dir / "empty"), "d41d8cd98f00b204e9800998ecf8427e");
  expect_user_error([&] { md5_of_file(dir / "none"); }, {dir / "none"});
}

TEST(Download, FetchesVerifiesAndExtracts) {
  testing::TempDir src, dst;
  const Files files = small_cifar();
  make_archive(src / "c.tar.gz", files);
  const std::string md5 = md5_of_file(src / "c.tar.gz");
  download_cifar10(dst.path(), "file://" + (src / "c.tar.gz"), md5);
  expect_extracted(dst, files);
  EXPECT_EQ(md5_of_file(dst / "cifar-10-binary.tar.gz"), md5);
}

TEST(Download, WrongChecksumDeletesTheFileLeavesNoFolderAndNamesBothSums) {
  testing::TempDir src, dst;
  make_archive(src / "c.tar.gz", small_cifar());
  const std::string actual = md5_of_file(src / "c.tar.gz"), wrong(32, '0');
  expect_user_error([&] { download_cifar10(dst.path(), "file://" + (src / "c.tar.gz"), wrong); },
                    {wrong, actual, "file://" + (src / "c.tar.gz")});
  EXPECT_FALSE(fs::exists(dst / "cifar-10-batches-bin"));
  EXPECT_FALSE(fs::exists(dst / "cifar-10-binary.tar.gz"));
  EXPECT_FALSE(fs::exists(dst / "cifar-10-binary.tar.gz.part"));
}

TEST(Download, APartialFileIsContinuedFromItsSize) {
  testing::TempDir src, dst;
  const Files files = small_cifar();
  make_archive(src / "c.tar.gz", files);
  const std::string whole = testing::read_text(src / "c.tar.gz");
  const std::string md5 = md5_of_file(src / "c.tar.gz");
  const size_t half = whole.size() / 2;
  // The served file's first half is garbage: only a download that starts exactly after the
  // .part's bytes (and keeps them) ends with the right MD5; a restart gets the garbage.
  write_text(src / "served.tar.gz", std::string(half, 'x') + whole.substr(half));
  write_text(dst / "cifar-10-binary.tar.gz.part", whole.substr(0, half));
  download_cifar10(dst.path(), "file://" + (src / "served.tar.gz"), md5);
  EXPECT_EQ(testing::read_text(dst / "cifar-10-binary.tar.gz"), whole);
  expect_extracted(dst, files);
}

TEST(Download, ACompletePartNeedsNoRequestAndChecksumCaseDoesNotMatter) {
  testing::TempDir src, dst;
  const Files files = small_cifar();
  make_archive(src / "c.tar.gz", files);
  fs::copy_file(src / "c.tar.gz", dst / "cifar-10-binary.tar.gz.part");
  std::string upper = md5_of_file(src / "c.tar.gz");
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  download_cifar10(dst.path(), "file:///nonexistent/c.tar.gz", upper);
  expect_extracted(dst, files);
}

TEST(Download, APartLongerThanTheFileStartsAgain) {
  testing::TempDir src, dst;
  const Files files = small_cifar();
  make_archive(src / "c.tar.gz", files);
  const std::string whole = testing::read_text(src / "c.tar.gz");
  write_text(dst / "cifar-10-binary.tar.gz.part", std::string(whole.size() + 100, 'x'));
  download_cifar10(dst.path(), "file://" + (src / "c.tar.gz"), md5_of_file(src / "c.tar.gz"));
  EXPECT_EQ(testing::read_text(dst / "cifar-10-binary.tar.gz"), whole);
  expect_extracted(dst, files);
}

TEST(Download, AnArchiveWithTheWrongChecksumIsFetchedAgain) {
  testing::TempDir src, dst;
  const Files files = small_cifar();
  make_archive(src / "c.tar.gz", files);
  write_text(dst / "cifar-10-binary.tar.gz", "not the archive");
  download_cifar10(dst.path(), "file://" + (src / "c.tar.gz"), md5_of_file(src / "c.tar.gz"));
  expect_extracted(dst, files);
}

TEST(Download, UnreachableUrlIsAUserErrorNamingIt) {
  testing::TempDir dst;
  expect_user_error(
      [&] { download_cifar10(dst.path(), "file:///nonexistent/c.tar.gz", std::string(32, 'a')); },
      {"file:///nonexistent/c.tar.gz"});
  EXPECT_FALSE(fs::exists(dst / "cifar-10-batches-bin"));
}

TEST(Download, AValidFolderIsLeftAloneAndABrokenOneReplaced) {
  testing::TempDir src, dst;
  const std::string final_dir = dst / "cifar-10-batches-bin";
  fs::create_directories(final_dir);
  // Full-size files of zeros: valid CIFAR-10 (every label 0), cheap to write.
  const std::string zeros(kCifarRecordsPerFile * kCifarRecordBytes, '\0');
  for (const char* name : kBatchNames) write_text(final_dir + "/" + name, zeros);
  // Nothing is fetched: an unreachable URL would throw.
  download_cifar10(dst.path(), "file:///nonexistent/c.tar.gz", std::string(32, 'a'));
  EXPECT_EQ(fs::file_size(final_dir + "/test_batch.bin"), zeros.size());
  EXPECT_FALSE(fs::exists(dst / "cifar-10-binary.tar.gz.part"));

  write_text(final_dir + "/data_batch_2.bin", "truncated");  // now read_cifar10 refuses it
  const Files files = small_cifar();
  make_archive(src / "c.tar.gz", files);
  download_cifar10(dst.path(), "file://" + (src / "c.tar.gz"), md5_of_file(src / "c.tar.gz"));
  expect_extracted(dst, files);
}

TEST(Download, AnArchiveWithoutTheBatchesIsRefusedAndLeavesNothing) {
  testing::TempDir src, dst;
  Files files = small_cifar();
  files.erase("cifar-10-batches-bin/test_batch.bin");
  make_archive(src / "c.tar.gz", files);
  fs::create_directories(dst / ".cifar-10-extract-99999999");  // a crashed run's leftovers
  expect_user_error(
      [&] {
        download_cifar10(dst.path(), "file://" + (src / "c.tar.gz"), md5_of_file(src / "c.tar.gz"));
      },
      {"cifar-10-batches-bin/test_batch.bin", dst / "cifar-10-binary.tar.gz"});
  EXPECT_FALSE(fs::exists(dst / "cifar-10-batches-bin"));
  EXPECT_FALSE(fs::exists(dst / ".cifar-10-extract-99999999"));
  for (const auto& e : fs::directory_iterator(dst.path()))
    EXPECT_EQ(e.path().filename().string().rfind(".cifar-10-extract-", 0), std::string::npos)
        << "temporary folder left: " << e.path();
}

TEST(Download, EntriesEscapingTheFolderAreRefused) {
  testing::TempDir src, outer;
  const std::string dst = outer / "data";
  Files files = small_cifar();
  files["cifar-10-batches-bin/../../../escaped.txt"] = "boo";
  make_archive(src / "c.tar.gz", files);
  EXPECT_THROW(download_cifar10(dst, "file://" + (src / "c.tar.gz"), md5_of_file(src / "c.tar.gz")),
               UserError);
  EXPECT_FALSE(fs::exists(outer / "escaped.txt"));
  EXPECT_FALSE(fs::exists(dst + "/escaped.txt"));
  EXPECT_FALSE(fs::exists(dst + "/cifar-10-batches-bin"));
}
#endif  // PARALLAX_NO_DOWNLOAD

}  // namespace
}  // namespace parallax
