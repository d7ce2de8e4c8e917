// The launcher's rendezvous folder on one node: a FileStore's file in a folder only this user can
// enter, so no port is open to the network (the TCPStore has no authentication).
#pragma once
#include <string>

namespace parallax {

// A mkdtemp folder (mode 0700) holding the FileStore's file; removed with everything in it.
struct PrivateStoreDir {
  explicit PrivateStoreDir(bool make);
  ~PrivateStoreDir();
  PrivateStoreDir(const PrivateStoreDir&) = delete;
  PrivateStoreDir& operator=(const PrivateStoreDir&) = delete;
  std::string dir, file;
};

}  // namespace parallax
