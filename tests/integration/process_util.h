// Processes for fault tests: start a command with its output on a pipe, read until a line shows
// up (the event to act on, not a sleep), signal it, wait for its exit; the ranks under a launcher.
#pragma once
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace parallax::testing {

struct Child {
  pid_t pid = -1;
  int out = -1;        // read end: the command's stdout and stderr together
  std::string output;  // everything read so far
};

// `exec`ed by /bin/sh, so that pid is the command's own (the launcher's, for parallax train).
// With own_group, the command leads a process group of its own, as a terminal's foreground job
// does: ::kill(-pid, SIGINT) is then a Ctrl-C, reaching it and the children it did not move out.
inline Child start(const std::string& command, bool own_group = false) {
  int p[2];
  EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
  Child c;
  c.pid = ::fork();
  if (c.pid == 0) {
    if (own_group) ::setpgid(0, 0);
    ::dup2(p[1], STDOUT_FILENO);
    ::dup2(p[1], STDERR_FILENO);
    ::execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (own_group) ::setpgid(c.pid, c.pid);  // as the child does: whichever runs first
  ::close(p[1]);
  c.out = p[0];
  return c;
}

// Reads until `needle` is in the output (true) or the output ends or timeout_s passes (false).
inline bool read_until(Child& c, const std::string& needle, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (c.output.find(needle) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          end - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0 || c.out < 0) return false;
    pollfd p{c.out, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(c.out, buf, sizeof(buf));
    if (n <= 0) {
      ::close(c.out);
      c.out = -1;
      return c.output.find(needle) != std::string::npos;
    }
    c.output.append(buf, static_cast<size_t>(n));
  }
  return true;
}

// Reads the rest of the output and returns the exit code (128 + signal if killed).
inline int wait_exit(Child& c) {
  read_until(c, std::string(1, '\0'), 600);  // to the end of the output
  int status = 0;
  while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Waits until process `pid` has a handler installed for `sig` (its SigCgt mask in /proc), so that
// a signal sent next meets that handler; false if it ended or timeout_s passed first.
inline bool catches_signal(pid_t pid, int sig, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    bool alive = false;
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("State:", 0) == 0) alive = line.find('Z') == std::string::npos;
      if (line.rfind("SigCgt:", 0) == 0 && alive &&
          (std::stoull(line.substr(7), nullptr, 16) >> (sig - 1) & 1))
        return true;
    }
    if (!alive) return false;
    // Polled: /proc has no event for it. A handler is installed within a second of the start.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// The processes whose parent is `pid` (a launcher's ranks), from /proc.
inline std::vector<pid_t> children_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> out;
  for (pid_t c; in >> c;) out.push_back(c);
  return out;
}

// The child of a launcher whose environment says RANK=rank; -1 if none (yet).
inline pid_t rank_pid(pid_t launcher, int rank) {
  for (pid_t c : children_of(launcher)) {
    std::ifstream in("/proc/" + std::to_string(c) + "/environ", std::ios::binary);
    std::stringstream env;
    env << in.rdbuf();
    const std::string want = std::string("RANK=") + std::to_string(rank) + '\0';
    const std::string all = std::string(1, '\0') + env.str();
    if (all.find(std::string(1, '\0') + want) != std::string::npos) return c;
  }
  return -1;
}

}  // namespace parallax::testing
