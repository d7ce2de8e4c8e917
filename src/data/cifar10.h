// CIFAR-10 binary format reader: data_batch_1..5.bin and test_batch.bin, 3073-byte records.
#pragma once
#include <string>

#include "data/dataset.h"

namespace parallax {

constexpr int64_t kCifarRecordBytes = 1 + 3 * 32 * 32;  // label byte, then R, G, B planes
constexpr int64_t kCifarRecordsPerFile = 10000;
// The folder the official archive unpacks to.
constexpr const char* kCifarBatchesFolder = "cifar-10-batches-bin";

// Reads dir, or dir/cifar-10-batches-bin when dir is the folder one level up: 50000 train and
// 10000 test images, uint8 [N, 3, 32, 32]. UserError naming the file if one is missing,
// truncated, oversized or holds a label outside 0..9.
Dataset read_cifar10(const std::string& dir);

// One batch file that must hold exactly `records` records (10000 in the real files; tests and
// `data info` pass other counts). Same errors as read_cifar10.
Split read_cifar10_file(const std::string& path, int64_t records = kCifarRecordsPerFile);

// The folder that holds the batch files: dir/cifar-10-batches-bin if present, else dir.
std::string cifar10_batches_dir(const std::string& dir);

}  // namespace parallax
