// Download, verify and extract; a crash at any point leaves either nothing or a resumable .part.
#include "data/download.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "config/user_error.h"

namespace parallax {
namespace fs = std::filesystem;
namespace {

size_t write_to_file(char* data, size_t size, size_t count, void* file) {
  return std::fwrite(data, size, count, static_cast<std::FILE*>(file)) * size;
}

void fetch(const std::string& url, const std::string& part) {
  const auto have = fs::exists(part) ? fs::file_size(part) : 0;
  std::FILE* f = std::fopen(part.c_str(), "ab");
  if (!f) throw UserError("download: cannot write " + part);
  CURL* curl = curl_easy_init();
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_to_file);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, f);
  curl_easy_setopt(curl, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(have));
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, isatty(fileno(stderr)) ? 0L : 1L);
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  std::fclose(f);
  if (rc != CURLE_OK)
    throw UserError("download: " + url + ": " + (error[0] ? error : curl_easy_strerror(rc)) +
                    "; run the command again to resume");
}

void extract(const std::string& archive_path, const std::string& into) {
  std::unique_ptr<archive, int (*)(archive*)> in(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(in.get());
  archive_read_support_format_all(in.get());
  if (archive_read_open_filename(in.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK)
    throw UserError("download: cannot open " + archive_path + ": " +
                    archive_error_string(in.get()));
  std::unique_ptr<archive, int (*)(archive*)> out(archive_write_disk_new(), archive_write_free);
  archive_write_disk_set_options(out.get(),
                                 ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS);
  archive_entry* entry;
  while (archive_read_next_header(in.get(), &entry) == ARCHIVE_OK) {
    const std::string target = into + "/" + archive_entry_pathname(entry);
    archive_entry_set_pathname(entry, target.c_str());
    if (archive_write_header(out.get(), entry) != ARCHIVE_OK)
      throw UserError("download: cannot extract " + target + ": " +
                      archive_error_string(out.get()));
    const void* block;
    size_t size;
    la_int64_t offset;
    while (archive_read_data_block(in.get(), &block, &size, &offset) == ARCHIVE_OK)
      archive_write_data_block(out.get(), block, size, offset);
    archive_write_finish_entry(out.get());
  }
}

}  // namespace

std::string md5_of_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw UserError("md5: cannot open " + path);
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_md5(), nullptr);
  std::vector<unsigned char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0)
    EVP_DigestUpdate(ctx.get(), buf.data(), n);
  std::fclose(f);
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
  const std::string final_dir = dir + "/cifar-10-batches-bin";
  if (fs::is_directory(final_dir)) {
    std::fprintf(stderr, "parallax: %s already holds CIFAR-10\n", final_dir.c_str());
    return;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw UserError("--dir " + dir + ": cannot create it (" + ec.message() + ")");
  const std::string archive_path = dir + "/cifar-10-binary.tar.gz", part = archive_path + ".part";
  if (!fs::exists(archive_path)) {
    fetch(url, part);
    const std::string got = md5_of_file(part);
    if (got != md5) {
      fs::remove(part);
      throw UserError("download: " + url + " has MD5 " + got + ", expected " + md5 +
                      "; the partial file was removed, run the command again");
    }
    fs::rename(part, archive_path);
  }
  const std::string temp = dir + "/.extract-" + std::to_string(::getpid());
  fs::remove_all(temp);
  fs::create_directories(temp);
  extract(archive_path, temp);
  if (!fs::is_directory(temp + "/cifar-10-batches-bin")) {
    fs::remove_all(temp);
    throw UserError("download: " + archive_path + " holds no cifar-10-batches-bin/ folder");
  }
  fs::rename(temp + "/cifar-10-batches-bin", final_dir);  // the one step that makes it visible
  fs::remove_all(temp);
  std::fprintf(stderr, "parallax: CIFAR-10 is in %s\n", final_dir.c_str());
}

}  // namespace parallax
