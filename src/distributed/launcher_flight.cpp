// Parsing the heartbeat pipe's messages; the request pipe; reading the records' verdict.
#include "distributed/launcher_flight.h"

#include <unistd.h>

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

bool RankFlightChannel::request_record() {
  if (requested_ || folder_.empty() || request_fd_ < 0) return false;
  const char ask = 1;
  requested_ = ::write(request_fd_, &ask, 1) == 1;  // non-blocking: a rank gone says no
  return requested_;
}

FlightCause flight_cause_of(const std::vector<const RankFlightChannel*>& channels) {
  for (const auto* c : channels)
    if (!c->folder().empty()) return {flight_cause(read_flight_records(c->folder())), c->folder()};
  return {};
}

}  // namespace parallax
