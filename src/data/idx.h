// IDX reader (MNIST, Fashion-MNIST), gzipped or plain.
#pragma once
#include <torch/types.h>

#include <string>

#include "data/dataset.h"

namespace parallax {

// uint8 tensor with the file's dimensions: magic 0x00000801 gives labels [N], 0x00000803 gives
// images [N, rows, cols]. UserError naming the file for any other magic number, a corrupt gzip
// stream, or a payload that is shorter or longer than the header says.
torch::Tensor read_idx(const std::string& path);

// train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte (each with or without .gz) from dir. Images come back as uint8
// [N, 1, rows, cols], labels as int64 in 0..9; `name` ("mnist", "fashion-mnist") is the dataset's
// name and prefixes every error.
Dataset read_idx_dataset(const std::string& dir, const std::string& name);

// dir/stem or dir/stem.gz, whichever exists; "" if neither.
std::string find_idx_file(const std::string& dir, const std::string& stem);

}  // namespace parallax
