// Heartbeat: a rank started by parallax's launcher writes a byte to a pipe every half second from
// a thread of its own, so the launcher can tell a rank that went silent (stopped, or frozen) from
// one that is only waiting for it in a collective, and name the right one.
#pragma once

namespace parallax {

constexpr int kHeartbeatFd = 9;               // the pipe's write end in the rank
constexpr const char* kHeartbeatEnv = "PARALLAX_HEARTBEAT_FD";
constexpr double kHeartbeatPeriodS = 0.5;

// Starts the beating thread when the launcher set PARALLAX_HEARTBEAT_FD; otherwise does nothing.
void start_heartbeat_from_env();

}  // namespace parallax
