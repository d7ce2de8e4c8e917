// Atomic file writes: a temp file beside the target, flushed, then renamed over it.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

#include "config/user_error.h"

namespace parallax {

// Storage failures (ENOSPC, EIO, EROFS, EFBIG...) are the user's to fix: one line naming the
// file and what to free.
UserError storage_error(const std::string& path, int err);

// Writes `path` through fill(write), where write(data, n) appends bytes and returns false once a
// write has failed (fill may go on calling it: the first error is kept). Flushed and fsynced;
// any failure throws storage_error() naming `shown` (the file the user knows).
using Write = std::function<bool(const void*, size_t)>;
using Fill = std::function<void(const Write&)>;
void write_with(const std::string& path, const std::string& shown, const Fill& fill);

void write_file_atomic(const std::string& path, const std::string& content);

// For writers that need a path (e.g. LibTorch archives): write_to(temp) then rename onto path.
void replace_file_atomic(const std::string& path,
                         const std::function<void(const std::string&)>& write_to);

}  // namespace parallax
