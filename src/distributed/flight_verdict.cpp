// Comparing the ranks' rings: per group, sequence number by sequence number, the first one at
// which a rank waits (issued, not completed) on what another never issued or issued differently.
#include "distributed/flight_verdict.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace parallax {
namespace {

bool waiting(const FlightRecordEntry& e) { return e.state == "issued" || e.state == "failed"; }
bool is_message(const FlightRecordEntry& e) { return e.op == "send" || e.op == "recv"; }

std::string ranks_text(const std::vector<int>& ranks) {
  std::string s = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

std::string what_text(const FlightRecordEntry& e) {
  return e.op + (e.numel > 0 ? " of " + std::to_string(e.numel) + " " + e.dtype : "") +
         " on group " + e.group;
}

std::string signature(const FlightRecordEntry& e) {
  return e.op + "|" + e.purpose + "|" + std::to_string(e.numel) + "|" + e.dtype;
}

// A cause, and when the wait it explains began (the earliest is the one to name).
struct Finding {
  int64_t since_us = std::numeric_limits<int64_t>::max();
  std::string text;
};

void keep_earliest(std::optional<Finding>& best, Finding f) {
  if (!best || f.since_us < best->since_us) best = std::move(f);
}

// One rank's collectives on one group, by sequence number.
struct History {
  int rank = 0;
  bool wrapped = false;
  std::map<int64_t, const FlightRecordEntry*> by_seq;
  int64_t last() const { return by_seq.empty() ? -1 : by_seq.rbegin()->first; }
};

std::optional<Finding> collective_finding(const std::string& group,
                                          const std::vector<History>& members, int group_size) {
  int64_t from = 0, to = -1;
  for (const auto& m : members) {
    if (m.wrapped && !m.by_seq.empty()) from = std::max(from, m.by_seq.begin()->first);
    to = std::max(to, m.last());
  }
  for (int64_t n = from; n <= to; ++n) {
    std::map<std::string, std::vector<int>> issued_as;  // signature -> ranks
    std::vector<int> absent, waiters;
    const FlightRecordEntry* example = nullptr;
    int64_t since = std::numeric_limits<int64_t>::max();
    for (const auto& m : members) {
      const auto it = m.by_seq.find(n);
      if (it == m.by_seq.end()) {
        if (m.last() < n) absent.push_back(m.rank);
        continue;
      }
      issued_as[signature(*it->second)].push_back(m.rank);
      if (waiting(*it->second)) {
        waiters.push_back(m.rank);
        since = std::min(since, it->second->issued_at_us);
        example = it->second;
      } else if (!example) {
        example = it->second;
      }
    }
    const std::string num = "collective #" + std::to_string(n);
    if (issued_as.size() > 1) {
      Finding f{since == std::numeric_limits<int64_t>::max() ? 0 : since,
                num + " on group " + group + " differs across ranks:"};
      bool first = true;
      for (const auto& [sig, ranks] : issued_as) {
        const FlightRecordEntry* e = nullptr;
        for (const auto& m : members)
          if (m.rank == ranks.front()) e = m.by_seq.at(n);
        f.text += std::string(first ? " " : "; ") + ranks_text(ranks) + " issued " + e->op +
                  " '" + e->purpose + "'" +
                  (e->numel > 0 ? " of " + std::to_string(e->numel) + " " + e->dtype : "");
        first = false;
      }
      return f;
    }
    if (waiters.empty()) continue;
    const std::string named = num + " '" + example->purpose + "' (" + what_text(*example) + ")";
    if (!absent.empty()) {
      std::string last;
      if (absent.size() == 1) {
        for (const auto& m : members)
          if (m.rank == absent[0] && !m.by_seq.empty())
            last = " (its last there: #" + std::to_string(m.last()) + " '" +
                   m.by_seq.rbegin()->second->purpose + "')";
      }
      return Finding{since, ranks_text(absent) + " never issued " + named + " that " +
                                ranks_text(waiters) + " waited on" + last};
    }
    if (static_cast<int>(members.size()) < group_size) {
      // Who is missing is known by rank in the world group only (group rank = rank there).
      std::set<int> seen;
      for (const auto& m : members) seen.insert(m.by_seq.begin()->second->group_rank);
      std::vector<int> missing;
      for (int r = 0; r < group_size; ++r)
        if (!seen.count(r)) missing.push_back(r);
      const std::string who = group == "world" ? ranks_text(missing)
                                               : "group rank(s) " + ranks_text(missing).substr(
                                                     missing.size() == 1 ? 5 : 6);
      return Finding{since, ranks_text(waiters) + " waited on " + named + ", which " + who +
                                " never joined (no flight record: stopped or died)"};
    }
  }
  return std::nullopt;
}

// A receive a rank waits on that its peer never sent (both records at hand, and its peer's
// history of sends to it complete enough to say so).
std::optional<Finding> message_finding(const std::vector<RankFlightRecord>& records) {
  // (group, group rank) -> record
  std::map<std::pair<std::string, int>, const RankFlightRecord*> by_group_rank;
  for (const auto& r : records)
    for (const auto& e : r.entries) by_group_rank[{e.group, e.group_rank}] = &r;
  std::optional<Finding> best;
  for (const auto& r : records) {
    for (const auto& e : r.entries) {
      if (e.op != "recv" || !waiting(e)) continue;
      const auto peer = by_group_rank.find({e.group, e.peer});
      if (peer == by_group_rank.end()) continue;
      int64_t last_sent = -1;
      bool any = false;
      for (const auto& s : peer->second->entries)
        if (s.group == e.group && s.op == "send" && s.peer == e.group_rank) {
          last_sent = std::max(last_sent, s.seq);
          any = true;
        }
      if (last_sent >= e.seq || (peer->second->wrapped && !any)) continue;
      keep_earliest(best, Finding{e.issued_at_us,
                                  "rank " + std::to_string(peer->second->rank) +
                                      " never sent message #" + std::to_string(e.seq) + " '" +
                                      e.purpose + "' (of " + std::to_string(e.numel) + " " +
                                      e.dtype + " on group " + e.group + ") that rank " +
                                      std::to_string(r.rank) + " waited for"});
    }
  }
  return best;
}

}  // namespace

RankFlightRecord parse_flight_record(const std::string& json_text) {
  const auto j = nlohmann::json::parse(json_text);
  RankFlightRecord r;
  r.rank = j.at("rank").get<int>();
  r.world = j.at("world").get<int>();
  r.wrapped = j.at("recorded").get<uint64_t>() > j.at("capacity").get<uint64_t>();
  for (const auto& e : j.at("entries")) {
    FlightRecordEntry x;
    x.group = e.at("group").get<std::string>();
    x.op = e.at("op").get<std::string>();
    x.purpose = e.at("purpose").get<std::string>();
    x.state = e.at("state").get<std::string>();
    x.dtype = e.at("dtype").get<std::string>();
    x.seq = e.at("seq").get<int64_t>();
    x.numel = e.at("numel").get<int64_t>();
    x.issued_at_us = e.at("issued_at_us").get<int64_t>();
    x.group_size = e.at("group_size").get<int>();
    x.group_rank = e.at("group_rank").get<int>();
    x.peer = e.at("peer").get<int>();
    r.entries.push_back(std::move(x));
  }
  return r;
}

std::vector<RankFlightRecord> read_flight_records(const std::string& folder) {
  std::vector<RankFlightRecord> records;
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(folder, ec)) {
    const std::string name = f.path().filename().string();
    if (name.rfind("rank", 0) != 0 || f.path().extension() != ".json") continue;
    try {
      std::ifstream in(f.path());
      std::stringstream text;
      text << in.rdbuf();
      records.push_back(parse_flight_record(text.str()));
    } catch (const std::exception&) {
      // Not a record (or one being replaced): the others still tell what they can.
    }
  }
  std::sort(records.begin(), records.end(),
            [](const auto& a, const auto& b) { return a.rank < b.rank; });
  return records;
}

std::string flight_cause(const std::vector<RankFlightRecord>& records) {
  std::map<std::string, std::vector<History>> groups;
  std::map<std::string, int> sizes;
  for (const auto& r : records) {
    for (const auto& e : r.entries) {
      if (is_message(e)) continue;
      auto& members = groups[e.group];
      if (members.empty() || members.back().rank != r.rank)
        members.push_back(History{r.rank, r.wrapped, {}});
      members.back().by_seq[e.seq] = &e;
      sizes[e.group] = e.group_size;
    }
  }
  std::optional<Finding> best;
  for (const auto& [group, members] : groups)
    if (auto f = collective_finding(group, members, sizes[group])) keep_earliest(best, *f);
  if (auto f = message_finding(records)) keep_earliest(best, *f);
  return best ? best->text : "";
}

}  // namespace parallax
