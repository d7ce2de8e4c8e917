// Heartbeat thread: detached, lives as long as the process; a write error (launcher gone) ends it.
// Between beats it waits on the launcher's request pipe, and answers a request with the record.
#include "distributed/heartbeat.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "distributed/flight_recorder.h"

namespace parallax {
namespace {

std::atomic<int> g_heartbeat_fd{-1};

// The fd an environment variable names, made close-on-exec (not for grandchildren: a process
// this rank starts must not keep the pipe, or the variable); -1 if unset.
int inherited_fd(const char* env) {
  const char* text = std::getenv(env);
  if (!text || !*text) return -1;
  const int fd = std::atoi(text);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  ::unsetenv(env);
  return fd;
}

// Waits a beat's period for a request; true when one came (and was read).
bool dump_requested(int request_fd, int period_ms) {
  if (request_fd < 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(period_ms));
    return false;
  }
  pollfd p{request_fd, POLLIN, 0};
  if (::poll(&p, 1, period_ms) <= 0) return false;
  char byte;
  return ::read(request_fd, &byte, 1) == 1;  // 0: the launcher is gone; the beat's write says so
}

}  // namespace

void start_heartbeat_from_env() {
  const int fd = inherited_fd(kHeartbeatEnv);
  if (fd < 0) return;
  const int request_fd = inherited_fd(kFlightRequestEnv);
  g_heartbeat_fd = fd;
  std::thread([fd, request_fd] {
    // A launcher gone makes the write fail (EPIPE) rather than kill the rank with SIGPIPE.
    sigset_t pipe;
    ::sigemptyset(&pipe);
    ::sigaddset(&pipe, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    const int period_ms = static_cast<int>(kHeartbeatPeriodS * 1000);
    while (::write(fd, &kBeat, 1) == 1) {
      if (!dump_requested(request_fd, period_ms)) continue;
      dump_flight_record("asked by the launcher: a peer failed or went silent");
      if (::write(fd, &kFlightDumped, 1) != 1) break;
    }
  }).detach();
}

void announce_flight_folder(const std::string& folder, int rank, int world) {
  arm_flight_dump(folder, rank, world);
  const int fd = g_heartbeat_fd;
  if (fd < 0) return;
  const std::string message = kFlightFolder + folder + "\n";
  [[maybe_unused]] const ssize_t n = ::write(fd, message.data(), message.size());
}

}  // namespace parallax
