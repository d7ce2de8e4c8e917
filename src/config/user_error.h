// UserError: the one exception type for bad user input; main() prints its one line and exits 2.
#pragma once
#include <stdexcept>
#include <string>

namespace parallax {

class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace parallax
