// Launcher: fork/exec per rank, one poll loop over their output pipes, signals and exits.
#include "distributed/launcher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "config/exit_codes.h"
#include "config/user_error.h"
#include "distributed/heartbeat.h"
#include "distributed/launcher_flight.h"
#include "distributed/private_store_dir.h"
#include "distributed/rendezvous_store.h"
#include "distributed/signal_scope.h"

namespace parallax {
namespace {

// The signal pipe: written by the handler, drained (non-blocking) by the poll loop. The write end
// is -1 whenever no launcher runs: a handler that fires then writes nowhere.
int g_signal_read = -1;
volatile std::sig_atomic_t g_signal_write = -1;

void on_signal(int sig) {
  const int fd = g_signal_write;
  if (fd < 0) return;
  const int saved_errno = errno;
  const unsigned char s = static_cast<unsigned char>(sig);
  [[maybe_unused]] ssize_t n = ::write(fd, &s, 1);
  errno = saved_errno;
}

// SIGINT, SIGTERM and SIGCHLD reach the poll loop through a non-blocking pipe (a handler may do
// no more than write to one) while the launcher runs. When it returns, the handlers it found are
// put back first, then the pipe is closed: the caller goes on with its own (`plan` does), and no
// byte goes to a descriptor number that a file opened later has taken.
class SignalPipe {
 public:
  SignalPipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe failed");
    g_signal_read = fds[0];
    g_signal_write = fds[1];
    handlers_.emplace(std::initializer_list<int>{SIGINT, SIGTERM, SIGCHLD}, on_signal);
  }
  ~SignalPipe() {
    handlers_.reset();
    const int write_end = g_signal_write;
    g_signal_write = -1;
    ::close(write_end);
    ::close(g_signal_read);
    g_signal_read = -1;
  }
 private:
  std::optional<ScopedSignalHandlers> handlers_;  // not copyable, and so neither is the pipe
};

struct Rank {
  pid_t pid = -1;
  int out = -1, err = -1;  // read ends of the child's stdout and stderr
  int beat = -1;           // read end of its heartbeat pipe
  RankFlightChannel flight;  // what it says on that pipe; its flight-record request pipe
  std::chrono::steady_clock::time_point last_beat;
  std::string out_tail, err_tail;  // bytes after the last newline
  bool running = true;
  int code = 0;    // exit code, or 128 + the signal that ended it
  int signal = 0;  // the signal that ended it, 0 if it exited
};

void forward_lines(int rank, std::string& tail, const char* data, size_t n, std::FILE* to,
                   bool flush_all) {
  tail.append(data, n);
  size_t start = 0, nl;
  while ((nl = tail.find('\n', start)) != std::string::npos) {
    std::fprintf(to, "[rank %d] %.*s\n", rank, static_cast<int>(nl - start), tail.data() + start);
    start = nl + 1;
  }
  tail.erase(0, start);
  if (flush_all && !tail.empty()) {
    std::fprintf(to, "[rank %d] %s\n", rank, tail.c_str());
    tail.clear();
  }
  std::fflush(to);
}

pid_t spawn(const LaunchSpec& spec, int local, int out_fd, int err_fd, int beat_fd,
            int request_fd, int world, const std::string& store_file) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  // Child: ends with its parent (no orphans if the launcher is killed), own output pipes.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  ::dup2(out_fd, STDOUT_FILENO);
  ::dup2(err_fd, STDERR_FILENO);
  // dup2 clears close-on-exec, so the rank inherits them; first out of the way of both numbers.
  beat_fd = ::fcntl(beat_fd, F_DUPFD_CLOEXEC, kFlightRequestFd + 1);
  request_fd = ::fcntl(request_fd, F_DUPFD_CLOEXEC, kFlightRequestFd + 1);
  ::dup2(beat_fd, kHeartbeatFd);
  ::dup2(request_fd, kFlightRequestFd);
  ::setenv(kHeartbeatEnv, std::to_string(kHeartbeatFd).c_str(), 1);
  ::setenv(kFlightRequestEnv, std::to_string(kFlightRequestFd).c_str(), 1);
  ::setpgid(0, 0);  // a terminal's Ctrl-C reaches the launcher alone, which forwards it once
  ::setenv("RANK", std::to_string(spec.node_rank * spec.nproc + local).c_str(), 1);
  ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
  ::setenv("LOCAL_RANK", std::to_string(local).c_str(), 1);
  ::setenv("LOCAL_WORLD_SIZE", std::to_string(spec.nproc).c_str(), 1);
  ::setenv("MASTER_ADDR", spec.master_addr.c_str(), 1);
  ::setenv("MASTER_PORT", std::to_string(spec.master_port).c_str(), 1);
  ::setenv("OMP_NUM_THREADS", std::to_string(spec.threads_per_rank).c_str(), 1);
  if (!store_file.empty()) ::setenv(kStoreFileEnv, store_file.c_str(), 1);
  std::vector<char*> args;
  for (const auto& a : spec.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  std::fprintf(stderr, "cannot start %s: %s\n", args[0], std::strerror(errno));
  ::_exit(127);
}

using LauncherClock = std::chrono::steady_clock;

// Silent for half the collective timeout: named before the ranks waiting for it time out.
LauncherClock::duration heartbeat_timeout(double comm_timeout_s) {
  return std::chrono::duration_cast<LauncherClock::duration>(
      std::chrono::duration<double>(std::max(2.0, comm_timeout_s / 2)));
}

// Forks the local ranks, each with pipes for its stdout, stderr and heartbeat; the launcher keeps
// their read ends.
std::vector<Rank> start_local_ranks(const LaunchSpec& spec, int world,
                                    const std::string& store_file,
                                    LauncherClock::duration silent_after) {
  std::vector<Rank> ranks(spec.nproc);
  for (int i = 0; i < spec.nproc; ++i) {
    int out[2], err[2], beat[2], request[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 ||
        ::pipe2(beat, O_CLOEXEC) != 0 || ::pipe2(request, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe failed");
    ::fcntl(request[1], F_SETFL, O_NONBLOCK);  // a rank that reads no more never blocks us
    ranks[i].pid = spawn(spec, i, out[1], err[1], beat[1], request[0], world, store_file);
    ::close(out[1]);
    ::close(err[1]);
    ::close(beat[1]);
    ::close(request[0]);
    ranks[i].flight = RankFlightChannel(request[1]);
    ranks[i].out = out[0];
    ranks[i].err = err[0];
    ranks[i].beat = beat[0];
    // Loading LibTorch takes seconds before the first beat: the first one gets a longer leash.
    ranks[i].last_beat = LauncherClock::now() +
                         std::max<LauncherClock::duration>(std::chrono::seconds(20), silent_after) -
                         silent_after;
  }
  return ranks;
}

// The local ranks while the launcher watches them: which still run, and which failed first.
struct RankWatch {
  std::vector<Rank> ranks;
  int first_failed = -1, running = 0, silent = -1;
  bool interrupted = false;
  std::optional<LauncherClock::time_point> stop_at;  // set while the ranks write their records

  void stop_all(int sig) {
    for (auto& r : ranks)
      if (r.running) ::kill(r.pid, sig);
  }
  // A rank failed or went silent: the others are likely waiting for it in a collective. Each
  // that can is asked for its flight record first (the heartbeat's thread writes it, in
  // milliseconds); then all are killed at once (a SIGTERM would only ask them to stop after a
  // step they cannot finish).
  void stop_after_flight_records() {
    bool asked = false;
    for (int i = 0; i < static_cast<int>(ranks.size()); ++i)
      if (ranks[i].running && i != silent) asked |= ranks[i].flight.request_record();
    stop_at = LauncherClock::now() + std::chrono::seconds(asked ? 3 : 0);
    kill_when_recorded();
  }
  void kill_when_recorded() {
    if (!stop_at) return;
    const bool all = std::all_of(ranks.begin(), ranks.end(), [](const Rank& r) {
      return !r.running || !r.flight.requested() || r.flight.answered();
    });
    if (!all && LauncherClock::now() < *stop_at) return;
    stop_at.reset();
    stop_all(SIGKILL);
  }
  bool output_open() const {
    return std::any_of(ranks.begin(), ranks.end(),
                       [](const Rank& r) { return r.out >= 0 || r.err >= 0; });
  }
};

// Waits until a rank writes, beats or ends, or a signal comes.
void wait_for_rank_events(const std::vector<Rank>& ranks) {
  std::vector<pollfd> fds{{g_signal_read, POLLIN, 0}};
  for (const auto& r : ranks) {
    if (r.out >= 0) fds.push_back({r.out, POLLIN, 0});
    if (r.err >= 0) fds.push_back({r.err, POLLIN, 0});
    if (r.beat >= 0) fds.push_back({r.beat, POLLIN, 0});
  }
  // At least twice a second: heartbeats are checked on every turn.
  ::poll(fds.data(), fds.size(), 500);
}

// SIGINT and SIGTERM that reached the launcher go on to every rank still running.
void forward_signals(RankWatch& watch) {
  unsigned char sig;
  while (::read(g_signal_read, &sig, 1) == 1) {
    if (sig == SIGINT || sig == SIGTERM) {
      // The ranks finish their step and stop together; asked again, they stop at once.
      if (watch.interrupted)
        watch.stop_all(SIGKILL);
      else
        watch.stop_all(sig);
      watch.interrupted = true;
    }
  }
}

// Reads the heartbeats; the first rank silent for too long is named, and every rank is stopped.
void check_heartbeats(RankWatch& watch, LauncherClock::duration silent_after) {
  const auto now = LauncherClock::now();
  for (int i = 0; i < static_cast<int>(watch.ranks.size()); ++i) {
    Rank& r = watch.ranks[i];
    if (r.beat < 0) continue;
    char beats[64];
    pollfd p{r.beat, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) {
      if (const ssize_t n = ::read(r.beat, beats, sizeof(beats)); n > 0) {
        r.flight.take(beats, static_cast<size_t>(n));
        r.last_beat = now;
      } else {
        ::close(r.beat);  // the rank ended (or closed it): its exit status tells the rest
        r.beat = -1;
      }
    }
    if (r.beat >= 0 && r.running && watch.silent < 0 && watch.first_failed < 0 &&
        now - r.last_beat > silent_after) {
      watch.silent = i;
      watch.first_failed = i;
      // A stopped process takes no SIGTERM; the others are waiting for it in a collective.
      watch.stop_after_flight_records();
    }
  }
}

// A rank that SIGINT or SIGTERM ended while setting up (in training it stops after its step and
// exits with kInterruptedExit instead): the launcher's forwarded interrupt, or a signal sent to
// the rank itself (Slurm's, systemd's).
bool ended_by_interrupt(const Rank& r) {
  return r.signal == SIGINT || r.signal == SIGTERM;
}

// Reaps every child that has ended (SIGCHLD may coalesce several exits into one).
void reap_exited_ranks(RankWatch& watch) {
  for (int i = 0; i < static_cast<int>(watch.ranks.size()); ++i) {
    Rank& r = watch.ranks[i];
    int status;
    if (!r.running || ::waitpid(r.pid, &status, WNOHANG) != r.pid) continue;
    r.running = false;
    --watch.running;
    r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + r.signal;
    // Interrupted ranks stop together; diverged ranks all stop at the same step and record it.
    // (A signal may reach the ranks without the launcher: Slurm's, or one sent to a rank.)
    // A rank still setting up ends at once on an interrupt: not a failure.
    const bool expected =
        r.code == kInterruptedExit || r.code == kDivergedExit || ended_by_interrupt(r);
    if (r.code != 0 && watch.first_failed < 0 && !expected) {
      watch.first_failed = i;
      watch.stop_after_flight_records();
    }
  }
}

// Copies what the ranks printed, line by line with their global rank in front; closes the pipes
// of those that ended.
void forward_rank_output(std::vector<Rank>& ranks, int first_global) {
  char buf[8192];
  for (int i = 0; i < static_cast<int>(ranks.size()); ++i) {
    Rank& r = ranks[i];
    const int global = first_global + i;
    for (auto [fd, tail, to] : {std::make_tuple(&r.out, &r.out_tail, stdout),
                                std::make_tuple(&r.err, &r.err_tail, stderr)}) {
      if (*fd < 0) continue;
      pollfd p{*fd, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) continue;
      const ssize_t n = ::read(*fd, buf, sizeof(buf));
      if (n > 0) {
        forward_lines(global, *tail, buf, static_cast<size_t>(n), to, false);
      } else {
        forward_lines(global, *tail, buf, 0, to, true);
        ::close(*fd);
        *fd = -1;
      }
    }
  }
}

// The heartbeat pipes still open (the output pipes closed as they ended).
void close_heartbeat_pipes(const std::vector<Rank>& ranks) {
  for (auto& r : ranks)
    if (r.beat >= 0) ::close(r.beat);
}

// How the run ended, in one line where a rank went silent, failed or was interrupted (unless the
// caller says so itself); returns the launcher's exit code.
int launch_exit_code(const RankWatch& watch, int first_global,
                     LauncherClock::duration silent_after, bool quiet_interrupt) {
  const int global = first_global + std::max(watch.first_failed, 0);
  std::vector<const RankFlightChannel*> channels;
  for (const auto& r : watch.ranks) channels.push_back(&r.flight);
  const FlightCause flight = watch.first_failed >= 0 ? flight_cause_of(channels) : FlightCause{};
  const std::string records = " (flight records: " + flight.folder + "/)";
  const std::string& cause = flight.cause;
  // An interrupt that ended a rank before training began comes first: a rank that then failed
  // did so waiting for it.
  const auto interrupted = std::find_if(watch.ranks.begin(), watch.ranks.end(), ended_by_interrupt);
  if (watch.silent < 0 && interrupted != watch.ranks.end()) {
    if (!quiet_interrupt) std::fprintf(stderr, "parallax: interrupted before training began\n");
    return interrupted->code;
  }
  if (watch.silent >= 0) {
    std::fprintf(stderr,
                 "parallax: error: rank %d stopped answering (no heartbeat for %.0f s: stopped, "
                 "or frozen); stopped every rank%s\n",
                 global, std::chrono::duration<double>(silent_after).count(),
                 cause.empty() ? "" : ("; " + cause + records).c_str());
    return 1;
  }
  if (watch.first_failed < 0) {
    for (const auto& r : watch.ranks) {
      if (r.code == kDivergedExit) return kDivergedExit;  // the rank said why, in one line
      if (r.code == kInterruptedExit) {
        if (!quiet_interrupt)
          std::fprintf(stderr, "parallax: interrupted: every rank stopped after the same step\n");
        return kInterruptedExit;
      }
    }

    return 0;  // finished, even if a signal came too late to stop it
  }
  if (!cause.empty()) {
    std::fprintf(stderr, "parallax: error: %s; rank %d failed first (exit code %d), and the "
                 "others were stopped%s\n", cause.c_str(), global,
                 watch.ranks[watch.first_failed].code, records.c_str());
  } else {
    std::fprintf(stderr, "parallax: error: rank %d failed first (exit code %d); stopped the "
                 "others\n", global, watch.ranks[watch.first_failed].code);
  }
  return watch.ranks[watch.first_failed].code;
}

}  // namespace

int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot find a free TCP port on 127.0.0.1");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

int launch_ranks(const LaunchSpec& spec) { return launch_ranks(spec, nullptr); }

int launch_ranks(const LaunchSpec& input, bool* interrupted) {
  LaunchSpec spec = input;
  if (spec.master_port == 0) spec.master_port = free_tcp_port();
  const int world = spec.nproc * spec.nnodes;
  const SignalPipe signals;
  // One node: the ranks meet in a FileStore in a folder only this user can enter, so no port is
  // open to the network (the TCPStore has no authentication). Removed when the ranks are done.
  PrivateStoreDir store_dir(spec.nnodes == 1);
  const auto silent_after = heartbeat_timeout(spec.comm_timeout_s);
  RankWatch watch;
  watch.ranks = start_local_ranks(spec, world, store_dir.file, silent_after);
  watch.running = spec.nproc;
  const int first_global = spec.node_rank * spec.nproc;
  while (watch.running > 0 || watch.output_open()) {
    wait_for_rank_events(watch.ranks);
    forward_signals(watch);
    check_heartbeats(watch, silent_after);
    reap_exited_ranks(watch);
    watch.kill_when_recorded();
    forward_rank_output(watch.ranks, first_global);
  }
  close_heartbeat_pipes(watch.ranks);
  if (interrupted) *interrupted = watch.interrupted;
  return launch_exit_code(watch, first_global, silent_after, spec.quiet_interrupt);
}

}  // namespace parallax
