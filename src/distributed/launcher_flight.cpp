// Parsing the heartbeat pipe's messages; the request pipe; reading the records' verdict.
#include "distributed/launcher_flight.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <utility>

#include "distributed/flight_verdict.h"
#include "distributed/heartbeat.h"

namespace parallax {

RankFlightChannel::RankFlightChannel(RankFlightChannel&& o) noexcept { *this = std::move(o); }

RankFlightChannel& RankFlightChannel::operator=(RankFlightChannel&& o) noexcept {
  std::swap(request_fd_, o.request_fd_);
  std::swap(folder_, o.folder_);
  std::swap(partial_, o.partial_);
  std::swap(in_folder_, o.in_folder_);
  std::swap(requested_, o.requested_);
  std::swap(answered_, o.answered_);
  return *this;
}

RankFlightChannel::~RankFlightChannel() {
  if (request_fd_ >= 0) ::close(request_fd_);
}

void RankFlightChannel::take(const char* data, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const char c = data[i];
    if (in_folder_) {
      if (c == '\n') {
        folder_ = partial_;
        partial_.clear();
        in_folder_ = false;
      } else {
        partial_ += c;
      }
    } else if (c == kFlightFolder) {
      in_folder_ = true;
    } else if (c == kFlightDumped) {
      answered_ = true;
    }  // kBeat: the caller notes the time
  }
}

namespace {

// One byte into a pipe whose reader may be gone: then the write fails (EPIPE) instead of the
// SIGPIPE it raises ending the launcher (found: exit 141 when both ranks had refused a setting and
// exited before the launcher asked for their records). The signal is blocked in this thread for
// the write, and the one it raised is taken before the mask is restored.
bool write_byte_without_sigpipe(int fd, char byte) {
  sigset_t pipe, old;
  ::sigemptyset(&pipe);
  ::sigaddset(&pipe, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe, &old);
  const bool written = ::write(fd, &byte, 1) == 1;
  if (!written && errno == EPIPE) {
    const timespec now{0, 0};
    while (::sigtimedwait(&pipe, nullptr, &now) == -1 && errno == EINTR) {
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return written;
}

}  // namespace

bool RankFlightChannel::request_record() {
  if (requested_ || folder_.empty() || request_fd_ < 0) return false;
  // Non-blocking: a rank gone says no.
  requested_ = write_byte_without_sigpipe(request_fd_, 1);
  return requested_;
}

FlightCause flight_cause_of(const std::vector<const RankFlightChannel*>& channels) {
  for (const auto* c : channels)
    if (!c->folder().empty()) return {flight_cause(read_flight_records(c->folder())), c->folder()};
  return {};
}

}  // namespace parallax
