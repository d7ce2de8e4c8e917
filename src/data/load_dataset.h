// load_dataset(): the dataset a config names, from its folder or generated from the seed.
#pragma once
#include <string>

#include "config/config.h"
#include "data/dataset.h"

namespace parallax {

std::string default_data_dir(const std::string& dataset);
Dataset load_dataset(const Config& cfg);

}  // namespace parallax
