// The suites shipped in bench/suites/*.yaml, embedded at build time (cmake/embed_presets.cmake).
#pragma once
#include <string>
#include <vector>

namespace parallax {

// The preset names (each bench/suites/NAME.yaml), sorted.
std::vector<std::string> preset_names();

// The YAML text of a preset; UserError listing the names if there is none by that name.
std::string preset_yaml(const std::string& name);

}  // namespace parallax
