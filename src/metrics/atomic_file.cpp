// Atomic file writes: readers see the old file or the new one, never a half-written one.
#include "metrics/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

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
    const std::string why = std::strerror(errno);
    std::remove(temp.c_str());
    throw std::runtime_error("cannot write " + path + ": " + why);
  }
}

void write_file_atomic(const std::string& path, const std::string& content) {
  replace_file_atomic(path, [&](const std::string& temp) {
    std::FILE* f = std::fopen(temp.c_str(), "wb");
    if (!f) throw std::runtime_error("cannot write " + temp + ": " + std::strerror(errno));
    const bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size();
    if (std::fclose(f) != 0 || !ok)
      throw std::runtime_error("cannot write " + temp + ": " + std::strerror(errno));
  });
}

}  // namespace parallax
