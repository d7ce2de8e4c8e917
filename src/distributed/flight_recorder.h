// The flight recorder: a per-process ring of the last collectives and messages this rank issued
// through the collectives layer (src/distributed/collectives.h), each with its group's sequence
// number, op, purpose, sizes and whether it completed. Written to <run>/flight/rank<R>.json when
// the rank fails or its launcher asks (a peer failed or went silent); the launcher compares the
// ranks' rings and names the rank that never reached a collective (flight_verdict.h). PyTorch's
// NCCL flight recorder is the model; this one sees every backend, and the purposes.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace parallax {

enum class FlightOp : uint8_t {
  kAllReduceSum,
  kAllReduceMax,
  kBroadcast,
  kAllGather,
  kReduceScatter,
  kBarrier,
  kSend,
  kRecv,
};
const char* flight_op_name(FlightOp op);
inline bool is_message(FlightOp op) { return op == FlightOp::kSend || op == FlightOp::kRecv; }

// issued: handed to the backend; completed: its work finished (Gloo, MPI: its future; a barrier
// or a waiting call: on return); enqueued: on a device stream (NCCL), whose completion the host
// does not see without a sync; failed: the backend reported an error (a timeout).
enum class FlightState : uint8_t { kIssued, kCompleted, kEnqueued, kFailed };
const char* flight_state_name(FlightState s);

// What one call issued. Fixed size: recording copies into a slot, nothing is allocated.
struct FlightEntry {
  uint64_t id = 0;   // 1, 2, ... over the process's calls: the ring's order
  int64_t seq = 0;   // collectives: per group, from 0, the same on every rank of the group;
                     // messages: per (group, peer, direction), the same at both ends
  FlightOp op = FlightOp::kAllReduceSum;
  FlightState state = FlightState::kIssued;
  int group_size = 0, group_rank = 0;
  int peer = -1;  // send/recv: the other end's rank in the group; broadcast: the root
  int64_t numel = 0, bytes = 0;
  int64_t issued_us = 0, completed_us = 0;  // wall clock, microseconds since the epoch
  std::array<char, 24> group{};    // the group's name ("world", "dp0", "pp1"...)
  std::array<char, 16> dtype{};
  std::array<char, 80> purpose{};  // truncated if longer
};

// What a call tells the recorder; `group` identifies the process group (its address).
struct FlightCall {
  const void* group = nullptr;
  int group_size = 0, group_rank = 0;
  FlightOp op = FlightOp::kAllReduceSum;
  const char* purpose = "";
  int peer = -1;
  int64_t numel = 0, bytes = 0;
  const char* dtype = "";
};

class FlightRecorder {
 public:
  static constexpr size_t kDefaultCapacity = 256;
  explicit FlightRecorder(size_t capacity = kDefaultCapacity);

  // Names the group at `group` (as every rank of it names it: the store prefix it was made
  // with). Unnamed groups are recorded as "group<size>".
  void name_group(const void* group, const std::string& name);

  // Records a call as issued; returns its id, for completed() / failed().
  uint64_t issued(const FlightCall& call);
  // Marks entry `id` (if still in the ring).
  void mark(uint64_t id, FlightState state);

  // The ring's entries, oldest first, and how many calls were ever recorded.
  std::vector<FlightEntry> entries() const;
  uint64_t recorded() const;
  size_t capacity() const { return ring_.size(); }

  // The record as JSON text: {"rank", "world", "reason", "capacity", "recorded", "entries": [...]}.
  std::string to_json(int rank, int world, const std::string& reason) const;

 private:
  struct Group {
    const void* key = nullptr;
    int size = 0;
    std::string name;
    int64_t next_collective = 0;
    std::vector<std::pair<int, int64_t>> next_sent, next_received;  // (peer, next number)
  };
  Group& group_of(const void* key, int size);  // mu_ held

  mutable std::mutex mu_;
  std::vector<FlightEntry> ring_;
  uint64_t next_id_ = 1;
  std::vector<Group> groups_;
};

// The process's recorder, which the collectives layer records into.
FlightRecorder& flight_recorder();

// From now on dump_flight_record() writes <folder>/rank<rank>.json (folder created on dump).
void arm_flight_dump(const std::string& folder, int rank, int world);
std::string armed_flight_folder();  // "" until armed
// Writes the process's ring, atomically; returns the file's path, or "" when not armed. Never
// throws (it runs on failure paths): a write that fails is reported in one line on stderr.
std::string dump_flight_record(const std::string& reason);

}  // namespace parallax
