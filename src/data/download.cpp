// Download, verify and extract; a crash at any point leaves either nothing under the final names
// or a .part file that the next run continues.
#include "data/download.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "config/user_error.h"
#include "data/cifar10.h"

namespace parallax {
namespace fs = std::filesystem;
namespace {

constexpr const char* kArchiveName = "cifar-10-binary.tar.gz";
constexpr const char* kTempPrefix = ".cifar-10-extract-";
constexpr const char* kBatchFiles[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                       "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string mib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", bytes / (1 << 20));
  return buf;
}

void rename_or_throw(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec)
    throw UserError("download: cannot rename " + from.string() + " to " + to.string() + ": " +
                    ec.message());
}

// One download into a folder at a time: two processes appending to one .part would corrupt it.
class FolderLock {
 public:
  explicit FolderLock(const std::string& dir) {
    const std::string path = (fs::path(dir) / ".cifar-10-download.lock").string();
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw UserError("download: cannot write in " + dir + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      std::fprintf(stderr, "parallax: waiting for another download into %s\n", dir.c_str());
      ::flock(fd_, LOCK_EX);
    }
  }
  ~FolderLock() { ::close(fd_); }  // closing releases the lock
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

// Removed on every exit path, so a failed extraction leaves no half folder behind.
struct TempFolder {
  fs::path path;
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

struct Progress {
  curl_off_t offset = 0;  // bytes already in the .part before this transfer
  bool tty = false;
  std::chrono::steady_clock::time_point last{};
};

int on_progress(void* data, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* p = static_cast<Progress*>(data);
  const auto t = std::chrono::steady_clock::now();
  if (!p->tty || total <= 0 || t - p->last < std::chrono::milliseconds(250)) return 0;
  p->last = t;
  const double have = static_cast<double>(p->offset + now),
               all = static_cast<double>(p->offset + total);
  std::fprintf(stderr, "\rparallax: downloading %s of %s (%.0f%%)   ", mib(have).c_str(),
               mib(all).c_str(), 100.0 * have / all);
  return 0;
}

size_t write_to_file(char* data, size_t size, size_t count, void* file) {
  return std::fwrite(data, size, count, static_cast<std::FILE*>(file)) * size;
}

enum class Fetch { kDone, kResumeRefused };

// Appends url's bytes from `offset` on to `part` (offset 0 starts the file afresh).
Fetch fetch_from(const std::string& url, const std::string& part, curl_off_t offset) {
  static std::once_flag curl_ready;
  std::call_once(curl_ready, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(part.c_str(), offset ? "ab" : "wb"),
                                                    std::fclose);
  if (!f) throw UserError("download: cannot write " + part + ": " + std::strerror(errno));
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw std::runtime_error("curl_easy_init failed");
  char error[CURL_ERROR_SIZE] = {0};
  Progress progress{offset, static_cast<bool>(::isatty(fileno(stderr))), {}};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "parallax");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  // A stalled connection fails (and can be resumed) instead of hanging forever.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_to_file);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, f.get());
  curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, offset);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &progress);
  std::fprintf(stderr, "parallax: downloading %s into %s%s\n", url.c_str(), part.c_str(),
               offset ? (" (resuming after " + mib(offset) + ")").c_str() : "");
  const CURLcode rc = curl_easy_perform(c);
  if (progress.tty) std::fprintf(stderr, "\n");
  long http = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
  const bool closed = std::fclose(f.release()) == 0;
  // A server without ranges, or a .part longer than the file (HTTP 416), cannot be continued.
  if (offset > 0 && (rc == CURLE_RANGE_ERROR || rc == CURLE_BAD_DOWNLOAD_RESUME ||
                     (rc == CURLE_HTTP_RETURNED_ERROR && http == 416)))
    return Fetch::kResumeRefused;
  if (rc != CURLE_OK)
    throw UserError("download: " + url + ": " + (error[0] ? error : curl_easy_strerror(rc)) +
                    "; run the command again to resume");
  if (!closed) throw UserError("download: cannot write " + part + ": " + std::strerror(errno));
  return Fetch::kDone;
}

void fetch(const std::string& url, const std::string& part) {
  std::error_code ec;
  const auto have = fs::exists(part) ? fs::file_size(part, ec) : 0;
  if (fetch_from(url, part, static_cast<curl_off_t>(ec ? 0 : have)) == Fetch::kResumeRefused) {
    std::fprintf(stderr, "parallax: %s cannot continue %s; starting again\n", url.c_str(),
                 part.c_str());
    fetch_from(url, part, 0);
  }
}

using ArchivePtr = std::unique_ptr<archive, int (*)(archive*)>;

// Extracts regular files and folders of archive_path under `into` (a canonical path, so that
// SECURE_NODOTDOT only ever fires on ".." inside the archive's own names).
void extract(const std::string& archive_path, const fs::path& into) {
  const std::string fix = "; delete it and run the command again";
  ArchivePtr in(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(in.get());
  archive_read_support_format_all(in.get());
  if (archive_read_open_filename(in.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK)
    throw UserError("download: cannot open " + archive_path + ": " +
                    archive_error_string(in.get()) + fix);
  ArchivePtr out(archive_write_disk_new(), archive_write_free);
  archive_write_disk_set_options(out.get(),
                                 ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS);
  auto corrupt = [&](archive* a) {
    const char* why = archive_error_string(a);
    return UserError("download: " + archive_path + " is corrupt (" + (why ? why : "?") + ")" + fix);
  };
  archive_entry* entry = nullptr;
  for (;;) {
    const int r = archive_read_next_header(in.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) throw corrupt(in.get());
    const char* name = archive_entry_pathname(entry);
    const auto type = archive_entry_filetype(entry);
    // Links and devices have no place in a dataset archive; skipping them is the safe reading.
    if (!name || archive_entry_hardlink(entry) || (type != AE_IFREG && type != AE_IFDIR)) continue;
    const std::string target = (into / name).string();
    archive_entry_set_pathname(entry, target.c_str());
    if (archive_write_header(out.get(), entry) < ARCHIVE_WARN)
      throw UserError("download: cannot extract " + target + ": " +
                      archive_error_string(out.get()));
    const void* block;
    size_t size;
    la_int64_t offset;
    for (;;) {
      const int rb = archive_read_data_block(in.get(), &block, &size, &offset);
      if (rb == ARCHIVE_EOF) break;
      if (rb < ARCHIVE_WARN) throw corrupt(in.get());
      if (archive_write_data_block(out.get(), block, size, offset) < ARCHIVE_WARN)
        throw UserError("download: cannot write " + target + ": " +
                        archive_error_string(out.get()));
    }
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN)
      throw UserError("download: cannot write " + target + ": " + archive_error_string(out.get()));
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK)
    throw UserError("download: cannot finish extracting into " + into.string() + ": " +
                    archive_error_string(out.get()));
}

}  // namespace

std::string md5_of_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) throw UserError("md5: cannot open " + path + ": " + std::strerror(errno));
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_md5(), nullptr) != 1)
    throw std::runtime_error("OpenSSL: cannot start an MD5 digest");
  std::vector<unsigned char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0)
    EVP_DigestUpdate(ctx.get(), buf.data(), n);
  if (std::ferror(f.get())) throw UserError("md5: cannot read " + path);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  std::string hex;
  char two[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(two, sizeof(two), "%02x", digest[i]);
    hex += two;
  }
  return hex;
}

void download_cifar10(const std::string& dir, const std::string& url, const std::string& md5) {
  const std::string expected = lowercase(md5);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw UserError("--dir " + dir + ": cannot create it (" + ec.message() + ")");
  FolderLock lock(dir);  // held to the end: every check below sees a folder no one else changes

  const fs::path final_dir = fs::path(dir) / kCifarBatchesFolder;
  bool replace = false;
  if (fs::exists(final_dir)) {
    try {
      const Dataset d = read_cifar10(final_dir.string());
      std::fprintf(stderr,
                   "parallax: %s already holds CIFAR-10 (%lld train, %lld test images); "
                   "nothing to do\n",
                   final_dir.c_str(), static_cast<long long>(d.train.size()),
                   static_cast<long long>(d.test.size()));
      return;
    } catch (const UserError& e) {
      std::fprintf(stderr, "parallax: replacing %s: %s\n", final_dir.c_str(), e.what());
      replace = true;
    }
  }
  // Under the lock no other extraction runs, so every leftover temporary folder is a crash's.
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().rfind(kTempPrefix, 0) == 0) fs::remove_all(e.path(), ec);

  const std::string archive_path = (fs::path(dir) / kArchiveName).string();
  const std::string part = archive_path + ".part";
  if (fs::exists(archive_path) && md5_of_file(archive_path) != expected) {
    std::fprintf(stderr, "parallax: %s has the wrong MD5; fetching it again\n",
                 archive_path.c_str());
    fs::remove(archive_path, ec);
  }
  if (!fs::exists(archive_path)) {
    // A complete .part (a crash between the check and the rename) needs no request at all;
    // asking a server for the range after its last byte would be an HTTP 416.
    if (!fs::exists(part) || md5_of_file(part) != expected) fetch(url, part);
    const std::string got = md5_of_file(part);
    if (got != expected) {
      fs::remove(part, ec);
      throw UserError("download: " + url + " has MD5 " + got + ", expected " + expected +
                      "; the downloaded file was deleted, run the command again");
    }
    rename_or_throw(part, archive_path);
  }

  TempFolder temp{fs::path(dir) / (kTempPrefix + std::to_string(::getpid()))};
  fs::create_directories(temp.path, ec);
  if (ec) throw UserError("download: cannot create " + temp.path.string() + ": " + ec.message());
  const fs::path root = fs::canonical(temp.path);
  std::fprintf(stderr, "parallax: extracting %s\n", archive_path.c_str());
  extract(archive_path, root);
  for (const char* name : kBatchFiles)
    if (!fs::is_regular_file(root / kCifarBatchesFolder / name))
      throw UserError("download: " + archive_path + " holds no " + kCifarBatchesFolder + "/" +
                      name + "; it is not the CIFAR-10 binary archive, delete it and run again");
  // The old folder leaves before the new one arrives; the final name never holds a mix.
  if (replace) rename_or_throw(final_dir, root / "replaced");
  rename_or_throw(root / kCifarBatchesFolder, final_dir);
  std::fprintf(stderr, "parallax: CIFAR-10 is in %s (%s kept; delete it to save space)\n",
               final_dir.c_str(), archive_path.c_str());
}

}  // namespace parallax
