// Download over file:// URLs (no network): MD5 checked, extraction atomic, partial files resumed.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/user_error.h"
#include "data/download.h"
#include "test_util.h"

namespace parallax {
namespace {

// A .tar.gz holding cifar-10-batches-bin/<name> files with small contents.
void make_archive(const std::string& path) {
  archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  archive_write_open_filename(a, path.c_str());
  for (const std::string name : {"data_batch_1.bin", "test_batch.bin"}) {
    const std::string body(5000, name[0]);
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, ("cifar-10-batches-bin/" + name).c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(body.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_write_header(a, e);
    archive_write_data(a, body.data(), body.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

TEST(Download, FetchesVerifiesAndExtracts) {
  testing::TempDir src, dst;
  make_archive(src / "c.tar.gz");
  const std::string md5 = md5_of_file(src / "c.tar.gz");
  EXPECT_EQ(md5.size(), 32u);
  download_cifar10(dst.path(), "file://" + (src / "c.tar.gz"), md5);
  EXPECT_EQ(testing::read_text(dst / "cifar-10-batches-bin/test_batch.bin"),
            std::string(5000, 't'));
  EXPECT_FALSE(std::filesystem::exists(dst / "cifar-10-binary.tar.gz.part"));
}

TEST(Download, WrongChecksumLeavesNoFolderAndNamesBothSums) {
  testing::TempDir src, dst;
  make_archive(src / "c.tar.gz");
  try {
    download_cifar10(dst.path(), "file://" + (src / "c.tar.gz"), std::string(32, '0'));
    ADD_FAILURE() << "accepted a wrong MD5";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(std::string(32, '0')), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dst / "cifar-10-batches-bin"));
  EXPECT_FALSE(std::filesystem::exists(dst / "cifar-10-binary.tar.gz"));
}

TEST(Download, APartialFileIsResumedNotRestarted) {
  testing::TempDir src, dst;
  make_archive(src / "c.tar.gz");
  const std::string whole = testing::read_text(src / "c.tar.gz");
  // The first half is already here; a restart would append the whole file and break the MD5.
  std::ofstream(dst / "cifar-10-binary.tar.gz.part", std::ios::binary)
      << whole.substr(0, whole.size() / 2);
  download_cifar10(dst.path(), "file://" + (src / "c.tar.gz"), md5_of_file(src / "c.tar.gz"));
  EXPECT_EQ(testing::read_text(dst / "cifar-10-binary.tar.gz"), whole);
  EXPECT_TRUE(std::filesystem::exists(dst / "cifar-10-batches-bin/data_batch_1.bin"));
}

TEST(Download, UnreachableUrlIsAUserErrorNamingIt) {
  testing::TempDir dst;
  EXPECT_THROW(download_cifar10(dst.path(), "file:///nonexistent/c.tar.gz", "x"), UserError);
}

}  // namespace
}  // namespace parallax
