// Dataset download: resumable (libcurl), verified (MD5 via OpenSSL), extracted atomically
// (libarchive).
#pragma once
#include <string>

namespace parallax {

inline const char* const kCifar10Url = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
inline const char* const kCifar10Md5 = "c32a1d4ab5d03f1284b67883e8d87530";

std::string md5_of_file(const std::string& path);

// Fetches the archive into dir (continuing a .part file if one is there), checks its MD5, and
// extracts cifar-10-batches-bin/ into dir through a temporary folder and one rename.
void download_cifar10(const std::string& dir, const std::string& url = kCifar10Url,
                      const std::string& md5 = kCifar10Md5);

}  // namespace parallax
