// The rank's side of its launcher's pipes. Heartbeat: a rank started by parallax's launcher writes
// a byte to a pipe every half second from a thread of its own, so the launcher can tell a rank
// that went silent (stopped, or frozen) from one that is only waiting for it in a collective, and
// name the right one. On the same pipe the rank names its flight records' folder once it knows it
// (flight_recorder.h), and says when it has written its record; the same thread writes it when
// the launcher asks (a byte on the request pipe: a peer failed or went silent).
#pragma once
#include <string>

namespace parallax {

constexpr int kHeartbeatFd = 9;               // the pipe's write end in the rank
constexpr const char* kHeartbeatEnv = "PARALLAX_HEARTBEAT_FD";
constexpr double kHeartbeatPeriodS = 0.5;
constexpr int kFlightRequestFd = 10;          // the request pipe's read end in the rank
constexpr const char* kFlightRequestEnv = "PARALLAX_FLIGHT_REQUEST_FD";

// What travels on the heartbeat pipe, each in one write (atomic: under PIPE_BUF):
constexpr char kBeat = 1;           // alive
constexpr char kFlightFolder = 2;   // followed by the folder's path and '\n'
constexpr char kFlightDumped = 3;   // the record is written (or there was none to write)

// Starts the beating thread when the launcher set PARALLAX_HEARTBEAT_FD; otherwise does nothing.
void start_heartbeat_from_env();

// Arms the flight recorder's dump (arm_flight_dump) and tells the launcher, if one listens,
// where the records go.
void announce_flight_folder(const std::string& folder, int rank, int world);

}  // namespace parallax
