// The launcher's reading of the ranks' flight records (flight_recorder.h): the first collective
// at which the ranks disagree, in one sentence — a rank that never issued a collective the others
// waited on, ranks that issued different collectives at the same sequence number, a message a
// rank waited for that its peer never sent, or a collective a rank with no record never joined.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace parallax {

struct FlightRecordEntry {
  std::string group, op, purpose, state, dtype;
  int64_t seq = 0, numel = 0, issued_at_us = 0;
  int group_size = 0, group_rank = 0, peer = -1;
};

struct RankFlightRecord {
  int rank = 0, world = 0;
  bool wrapped = false;  // the ring dropped older calls: its history starts at its first entry
  std::vector<FlightRecordEntry> entries;  // oldest first
};

// Parses one record (a rank<R>.json's text); throws std::exception if it is not one.
RankFlightRecord parse_flight_record(const std::string& json_text);

// The records in `folder` (rank*.json) that parse; those that do not are left out.
std::vector<RankFlightRecord> read_flight_records(const std::string& folder);

// The cause, as a sentence without a final stop (e.g. "rank 1 never issued collective #37
// 'gradient bucket' (all_reduce_sum of 2048 float on group world) that ranks 0, 2 waited on");
// "" when the records show no rank waiting on another.
std::string flight_cause(const std::vector<RankFlightRecord>& records);

}  // namespace parallax
