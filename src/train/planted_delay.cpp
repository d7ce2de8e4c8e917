// planted_step_delay_s(): PARALLAX_TEST_SLOW_RANK, read once per rank.
#include "train/planted_delay.h"

#include <cstdlib>
#include <string>

#include "config/user_error.h"

namespace parallax {

double planted_step_delay_s(int rank) {
  const char* v = std::getenv("PARALLAX_TEST_SLOW_RANK");
  if (!v || !*v) return 0;
  const std::string s = v;
  const auto colon = s.find(':');
  try {
    if (colon == std::string::npos) throw std::invalid_argument(s);
    size_t used = 0;
    const int slow = std::stoi(s.substr(0, colon), &used);
    const double ms = std::stod(s.substr(colon + 1));
    if (used != colon || slow < 0 || ms < 0) throw std::invalid_argument(s);
    return slow == rank ? ms / 1000 : 0;
  } catch (const std::exception&) {
    throw UserError("PARALLAX_TEST_SLOW_RANK=" + s +
                    ": give RANK:MILLISECONDS (e.g. 1:50), or unset it");
  }
}

}  // namespace parallax
