// Dataset download: resumable (libcurl), verified (MD5 via OpenSSL), extracted atomically
// (libarchive).
#pragma once
#include <string>

namespace parallax {

inline const char* const kCifar10Url = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
inline const char* const kCifar10Md5 = "c32a1d4ab5d03f1284b67883e8d87530";

// Lowercase hex MD5 of a file's bytes. UserError if it cannot be read.
std::string md5_of_file(const std::string& path);

// Makes dir/cifar-10-batches-bin hold CIFAR-10. Does nothing (and says so) when that folder is
// already there and read_cifar10 accepts it. Otherwise fetches url into
// dir/cifar-10-binary.tar.gz.part (continuing a .part left by an interrupted run), checks its MD5
// (a mismatch deletes the .part), renames it to dir/cifar-10-binary.tar.gz, extracts it into a
// temporary folder inside dir and renames cifar-10-batches-bin into place, so the final name only
// ever holds a complete folder. Network and checksum failures are UserErrors naming the URL.
void download_cifar10(const std::string& dir, const std::string& url = kCifar10Url,
                      const std::string& md5 = kCifar10Md5);

}  // namespace parallax
