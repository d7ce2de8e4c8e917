// The dataset download in a build without libcurl, libarchive and OpenSSL (cmake
// -DPARALLAX_DOWNLOAD=OFF, as the GPU check's bundle build is: those libraries' dependencies do not
// fit in the bundle, and that machine has no network anyway). CMakeLists.txt compiles this file in
// place of download.cpp; `parallax data download` then says, in one line, how to get the data.
// md5_of_file is not defined here: only download.cpp and its tests call it.
#include "config/user_error.h"
#include "data/cifar10.h"
#include "data/download.h"

namespace parallax {

void download_cifar10(const std::string& dir, const std::string& url, const std::string&) {
  throw UserError("data download cifar10: this parallax was built without downloading "
                  "(-DPARALLAX_DOWNLOAD=OFF); fetch " + url + " on a machine with network and "
                  "unpack it with `tar xzf cifar-10-binary.tar.gz -C " + dir + "` (it makes " + dir +
                  "/" + kCifarBatchesFolder + "), or use a build with -DPARALLAX_DOWNLOAD=ON");
}

}  // namespace parallax
