// Heartbeat thread: detached, lives as long as the process; a write error (launcher gone) ends it.
#include "distributed/heartbeat.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace parallax {

void start_heartbeat_from_env() {
  const char* fd_text = std::getenv(kHeartbeatEnv);
  if (!fd_text || !*fd_text) return;
  const int fd = std::atoi(fd_text);
  // Not for grandchildren: a process this rank starts must not keep the pipe (or the variable).
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  ::unsetenv(kHeartbeatEnv);
  std::thread([fd] {
    // A launcher gone makes the write fail (EPIPE) rather than kill the rank with SIGPIPE.
    sigset_t pipe;
    ::sigemptyset(&pipe);
    ::sigaddset(&pipe, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    const char beat = 1;
    const auto period = std::chrono::duration<double>(kHeartbeatPeriodS);
    while (::write(fd, &beat, 1) == 1) std::this_thread::sleep_for(period);
  }).detach();
}

}  // namespace parallax
