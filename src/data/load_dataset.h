// load_dataset(): the dataset a config names, from its folder or generated from the seed.
#pragma once
#include <string>

#include "config/config.h"
#include "data/dataset.h"

namespace parallax {

std::string default_data_dir(const std::string& dataset);
// context: a text dataset's window length (the model's context); unused for images.
Dataset load_dataset(const Config& cfg, int64_t context = 0);

bool is_text_dataset(const std::string& dataset);

}  // namespace parallax
