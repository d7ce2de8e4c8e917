// Config <-> JSON (nlohmann): how a run's config is stored in summary.json and checkpoints.
#pragma once
#include <nlohmann/json.hpp>

#include "config/config.h"

namespace parallax {

void to_json(nlohmann::json& j, const Config& c);
void from_json(const nlohmann::json& j, Config& c);

}  // namespace parallax
