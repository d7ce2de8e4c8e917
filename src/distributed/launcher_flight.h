// The launcher's side of the ranks' flight records: what a rank says on its heartbeat pipe (beats,
// where its records go, that it wrote one), asking it for its record before the others are
// stopped, and the cause the records name (flight_verdict.h).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace parallax {

class RankFlightChannel {
 public:
  RankFlightChannel() = default;
  explicit RankFlightChannel(int request_fd) : request_fd_(request_fd) {}
  RankFlightChannel(RankFlightChannel&& o) noexcept;
  RankFlightChannel& operator=(RankFlightChannel&& o) noexcept;
  ~RankFlightChannel();

  // Takes bytes read from the rank's heartbeat pipe.
  void take(const char* data, size_t n);
  // Asks the rank to write its record (once); false if it has no folder to write to.
  bool request_record();
  bool requested() const { return requested_; }
  bool answered() const { return answered_; }
  const std::string& folder() const { return folder_; }

 private:
  int request_fd_ = -1;  // write end of the rank's request pipe
  std::string folder_, partial_;
  bool in_folder_ = false, requested_ = false, answered_ = false;
};

// The cause the records in the first folder any rank named say ("" when there are none, or they
// name no cause), and that folder.
struct FlightCause {
  std::string cause, folder;
};
FlightCause flight_cause_of(const std::vector<const RankFlightChannel*>& channels);

}  // namespace parallax
