// CIFAR-10 binary format reader: data_batch_1..5.bin and test_batch.bin, 3073-byte records.
#pragma once
#include <string>

#include "data/dataset.h"

namespace parallax {

constexpr int64_t kCifarRecordBytes = 1 + 3 * 32 * 32;
constexpr int64_t kCifarRecordsPerFile = 10000;

// Reads dir (or dir/cifar-10-batches-bin). UserError naming the file if one is missing,
// truncated, oversized or holds a label outside 0..9.
Dataset read_cifar10(const std::string& dir);

// One batch file holding exactly `records` records (10000 in the real files).
Split read_cifar10_file(const std::string& path, int64_t records = kCifarRecordsPerFile);

}  // namespace parallax
