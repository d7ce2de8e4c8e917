// A Profile to and from JSON: `plan --out DIR` saves DIR/profile.json, and `--device-profile FILE`
// plans with one taken elsewhere (another device, or a stated assumption).
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "plan/profile.h"

namespace parallax {

nlohmann::json profile_to_json(const Profile& p);
// UserError naming the file and the bad field.
Profile profile_from_json(const nlohmann::json& j, const std::string& file);
Profile read_profile_file(const std::string& path);

}  // namespace parallax
