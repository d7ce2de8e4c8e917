// Exit codes of `parallax train` (the launcher passes the ranks' on): the README documents them.
#pragma once

namespace parallax {

constexpr int kInternalErrorExit = 1;
constexpr int kUserErrorExit = 2;      // bad input, or storage full / read-only: one line says
constexpr int kDivergedExit = 3;       // a non-finite or exploded loss stopped training (diverged)
constexpr int kInterruptedExit = 130;  // SIGINT/SIGTERM: every rank stopped after one step

}  // namespace parallax
