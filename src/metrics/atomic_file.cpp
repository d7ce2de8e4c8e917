// Atomic file writes: readers see the old file or the new one, never a half-written one.
#include "metrics/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "config/user_error.h"

namespace parallax {
namespace {

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void replace_file_atomic(const std::string& path,
                         const std::function<void(const std::string&)>& write_to) {
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  try {
    write_to(temp);
  } catch (...) {
    std::remove(temp.c_str());
    throw;
  }
  fsync_path(temp);  // the data must be on disk before the name points at it
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(temp.c_str());
    throw storage_error(path, err);
  }
}

UserError storage_error(const std::string& path, int err) {
  return UserError(path + ": cannot write it (" + std::strerror(err) + "); free space on that " +
                   "disk, check that it is writable, or give another --out (the last complete " +
                   "file is kept)");
}

void write_with(const std::string& path, const std::string& shown, const Fill& fill) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw storage_error(shown, errno);
  int err = 0;
  fill([&](const void* data, size_t n) {
    if (err == 0 && n > 0 && std::fwrite(data, 1, n, f) != n) err = errno ? errno : EIO;
    return err == 0;
  });
  if (std::fflush(f) != 0 && err == 0) err = errno;
  if (::fsync(::fileno(f)) != 0 && err == 0 && errno != EINVAL) err = errno;
  if (std::fclose(f) != 0 && err == 0) err = errno;
  if (err != 0) throw storage_error(shown, err);
}

void write_file_atomic(const std::string& path, const std::string& content) {
  replace_file_atomic(path, [&](const std::string& temp) {
    write_with(temp, path, [&](const Write& write) { write(content.data(), content.size()); });
  });
}

}  // namespace parallax
