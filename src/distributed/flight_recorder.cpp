// The flight recorder's ring (one mutex; a slot is overwritten in place) and its JSON dump.
#include "distributed/flight_recorder.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "metrics/atomic_file.h"

namespace parallax {
namespace {

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

template <size_t N>
void copy_into(std::array<char, N>& to, const char* from) {
  std::strncpy(to.data(), from ? from : "", N - 1);
  to[N - 1] = '\0';
}

// The number for the next message to or from `peer`, counted per direction.
int64_t take_message_number(std::vector<std::pair<int, int64_t>>& next, int peer) {
  for (auto& [p, n] : next)
    if (p == peer) return n++;
  next.emplace_back(peer, 1);  // the first message to this peer: once per peer, not per call
  return 0;
}

}  // namespace

const char* flight_op_name(FlightOp op) {
  switch (op) {
    case FlightOp::kAllReduceSum: return "all_reduce_sum";
    case FlightOp::kAllReduceMax: return "all_reduce_max";
    case FlightOp::kBroadcast: return "broadcast";
    case FlightOp::kAllGather: return "all_gather";
    case FlightOp::kReduceScatter: return "reduce_scatter";
    case FlightOp::kBarrier: return "barrier";
    case FlightOp::kSend: return "send";
    case FlightOp::kRecv: return "recv";
  }
  return "?";
}

const char* flight_state_name(FlightState s) {
  switch (s) {
    case FlightState::kIssued: return "issued";
    case FlightState::kCompleted: return "completed";
    case FlightState::kEnqueued: return "enqueued";
    case FlightState::kFailed: return "failed";
  }
  return "?";
}

FlightRecorder::FlightRecorder(size_t capacity) : ring_(std::max<size_t>(capacity, 1)) {}

FlightRecorder::Group& FlightRecorder::group_of(const void* key, int size) {
  for (auto& g : groups_)
    if (g.key == key && g.size == size) return g;
  groups_.push_back(Group{key, size, "group" + std::to_string(size), 0, {}, {}});
  return groups_.back();
}

void FlightRecorder::name_group(const void* group, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& g : groups_)
    if (g.key == group) {
      g.name = name;
      return;
    }
  groups_.push_back(Group{group, -1, name, 0, {}, {}});  // its size is learnt on the first call
}

uint64_t FlightRecorder::issued(const FlightCall& call) {
  const int64_t t = now_us();
  std::lock_guard<std::mutex> lock(mu_);
  Group* g = nullptr;
  for (auto& known : groups_)
    if (known.key == call.group && (known.size == call.group_size || known.size < 0)) {
      known.size = call.group_size;
      g = &known;
      break;
    }
  if (!g) g = &group_of(call.group, call.group_size);
  const uint64_t id = next_id_++;
  FlightEntry& e = ring_[(id - 1) % ring_.size()];
  e.id = id;
  e.seq = call.op == FlightOp::kSend   ? take_message_number(g->next_sent, call.peer)
          : call.op == FlightOp::kRecv ? take_message_number(g->next_received, call.peer)
                                       : g->next_collective++;
  e.op = call.op;
  e.state = FlightState::kIssued;
  e.group_size = call.group_size;
  e.group_rank = call.group_rank;
  e.peer = call.peer;
  e.numel = call.numel;
  e.bytes = call.bytes;
  e.issued_us = t;
  e.completed_us = 0;
  copy_into(e.group, g->name.c_str());
  copy_into(e.dtype, call.dtype);
  copy_into(e.purpose, call.purpose);
  return id;
}

void FlightRecorder::mark(uint64_t id, FlightState state) {
  const int64_t t = now_us();
  std::lock_guard<std::mutex> lock(mu_);
  FlightEntry& e = ring_[(id - 1) % ring_.size()];
  if (e.id != id) return;  // overwritten meanwhile: 256 newer calls
  e.state = state;
  if (state != FlightState::kEnqueued) e.completed_us = t;
}

std::vector<FlightEntry> FlightRecorder::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<FlightEntry> out;
  const uint64_t n = std::min<uint64_t>(next_id_ - 1, ring_.size());
  for (uint64_t id = next_id_ - n; id < next_id_; ++id) out.push_back(ring_[(id - 1) % ring_.size()]);
  return out;
}

uint64_t FlightRecorder::recorded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_id_ - 1;
}

std::string FlightRecorder::to_json(int rank, int world, const std::string& reason) const {
  nlohmann::json j;
  j["rank"] = rank;
  j["world"] = world;
  j["reason"] = reason;
  j["capacity"] = capacity();
  j["recorded"] = recorded();
  j["dumped_at_us"] = now_us();
  auto& list = j["entries"] = nlohmann::json::array();
  for (const FlightEntry& e : entries()) {
    list.push_back({{"id", e.id},
                    {"group", e.group.data()},
                    {"seq", e.seq},
                    {"op", flight_op_name(e.op)},
                    {"purpose", e.purpose.data()},
                    {"state", flight_state_name(e.state)},
                    {"group_size", e.group_size},
                    {"group_rank", e.group_rank},
                    {"peer", e.peer},
                    {"numel", e.numel},
                    {"dtype", e.dtype.data()},
                    {"bytes", e.bytes},
                    {"issued_at_us", e.issued_us},
                    {"completed_at_us", e.completed_us}});
  }
  return j.dump(1);
}

FlightRecorder& flight_recorder() {
  static FlightRecorder recorder;
  return recorder;
}

namespace {
struct DumpTarget {
  std::mutex mu;
  std::string folder;
  int rank = 0, world = 1;
};
DumpTarget& dump_target() {
  static DumpTarget target;
  return target;
}
}  // namespace

void arm_flight_dump(const std::string& folder, int rank, int world) {
  auto& t = dump_target();
  std::lock_guard<std::mutex> lock(t.mu);
  t.folder = folder;
  t.rank = rank;
  t.world = world;
}

std::string armed_flight_folder() {
  auto& t = dump_target();
  std::lock_guard<std::mutex> lock(t.mu);
  return t.folder;
}

std::string dump_flight_record(const std::string& reason) {
  auto& t = dump_target();
  // One dump at a time (the failure path and the launcher's request may meet): the later one
  // writes the fuller ring.
  std::lock_guard<std::mutex> lock(t.mu);
  if (t.folder.empty()) return "";
  const std::string path = t.folder + "/rank" + std::to_string(t.rank) + ".json";
  try {
    std::filesystem::create_directories(t.folder);
    write_file_atomic(path, flight_recorder().to_json(t.rank, t.world, reason));
    return path;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parallax: could not write the flight record %s: %s\n", path.c_str(),
                 e.what());
    return "";
  }
}

}  // namespace parallax
