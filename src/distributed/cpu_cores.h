// The cores a rank's thread pool is sized from.
#pragma once

namespace parallax {

int cpu_cores();  // cores this process may run on

}  // namespace parallax
