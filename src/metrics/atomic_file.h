// Atomic file writes: a temp file beside the target, flushed, then renamed over it.
#pragma once
#include <functional>
#include <string>

namespace parallax {

void write_file_atomic(const std::string& path, const std::string& content);

// For writers that need a path (e.g. LibTorch archives): write_to(temp) then rename onto path.
void replace_file_atomic(const std::string& path,
                         const std::function<void(const std::string&)>& write_to);

}  // namespace parallax
