// `parallax data info PATH`: what a dataset folder or file holds, in a few human lines.
#pragma once
#include <string>

namespace parallax {

// A CIFAR-10 folder, an IDX folder, or one IDX / CIFAR-10 batch file. UserError otherwise.
std::string describe_data_path(const std::string& path);

}  // namespace parallax
