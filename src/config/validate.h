// validate(): checks every value of a Config once, before any work, with one clear line per fault.
#pragma once
#include "config/config.h"

namespace parallax {

// Throws UserError naming the first bad option and what to give instead.
void validate(const Config& cfg);

}  // namespace parallax
