// mkdtemp, and remove_all when done.
#include "distributed/private_store_dir.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "config/user_error.h"

namespace parallax {

PrivateStoreDir::PrivateStoreDir(bool make) {
  if (!make) return;
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/parallax-store-XXXXXX";
  if (!::mkdtemp(pattern.data()))
    throw UserError("cannot create a folder under " + pattern + " for the rendezvous (" +
                    std::strerror(errno) + "); set TMPDIR to a writable folder");
  dir = pattern;
  file = dir + "/store";
}

PrivateStoreDir::~PrivateStoreDir() {
  std::error_code ec;
  if (!dir.empty()) std::filesystem::remove_all(dir, ec);
}

}  // namespace parallax
