// IDX reader (MNIST, Fashion-MNIST), gzipped or plain.
#pragma once
#include <torch/types.h>

#include <string>

#include "data/dataset.h"

namespace parallax {

// uint8 tensor with the file's dimensions ([N] labels, [N, rows, cols] images). UserError naming
// the file for a wrong magic number, unsupported type, or a payload of the wrong size.
torch::Tensor read_idx(const std::string& path);

// train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-* (each with or without .gz) from dir;
// images come back as [N, 1, rows, cols].
Dataset read_idx_dataset(const std::string& dir, const std::string& name);

}  // namespace parallax
