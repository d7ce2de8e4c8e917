// Recording a call's sizes and completion; the planted hang for tests.
#include "distributed/recorded_issue.h"

#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <thread>

#include "config/user_error.h"
#include "distributed/collectives.h"

namespace parallax {
namespace {

struct PlantedHang {
  int rank = -1;
  int64_t nth = 0;
  std::string purpose;
  std::atomic<int64_t> seen{0};
};

const PlantedHang* planted_hang() {
  static PlantedHang* planted = [] () -> PlantedHang* {
    const char* v = std::getenv("PARALLAX_TEST_SKIP_COLLECTIVE");
    if (!v || !*v) return nullptr;
    const std::string s = v;
    const auto a = s.find(':'), b = a == std::string::npos ? a : s.find(':', a + 1);
    auto* p = new PlantedHang;  // lives as long as the process
    try {
      if (b == std::string::npos || b + 1 >= s.size()) throw std::invalid_argument(s);
      p->rank = std::stoi(s.substr(0, a));
      p->nth = std::stoll(s.substr(a + 1, b - a - 1));
      p->purpose = s.substr(b + 1);
      if (p->rank < 0 || p->nth < 1) throw std::invalid_argument(s);
    } catch (const std::exception&) {
      throw UserError("PARALLAX_TEST_SKIP_COLLECTIVE=" + s +
                      ": give RANK:N:PURPOSE (e.g. 1:3:gradient bucket), or unset it");
    }
    const char* rank = std::getenv("RANK");
    if (!rank || std::atoi(rank) != p->rank) p->nth = 0;  // not this rank: never matches
    return p;
  }();
  return planted;
}

}  // namespace

void hang_if_planted(const char* purpose) {
  const PlantedHang* planted = planted_hang();
  if (!planted || planted->nth == 0 || planted->purpose != purpose) return;
  auto& seen = const_cast<PlantedHang*>(planted)->seen;
  if (seen.fetch_add(1) + 1 != planted->nth) return;
  std::fprintf(stderr, "PARALLAX_TEST_SKIP_COLLECTIVE: rank %d hangs instead of issuing '%s'\n",
               planted->rank, purpose);
  // Hangs for good, as a deadlock would: the launcher ends the process.
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

FlightCall flight_call(const compat::Group& group, FlightOp op, const char* purpose,
                       const std::vector<torch::Tensor>& tensors, int peer) {
  FlightCall call;
  call.group = group.get();
  call.group_size = group->getSize();
  call.group_rank = group->getRank();
  call.op = op;
  call.purpose = purpose;
  call.peer = peer;
  for (const auto& t : tensors) {
    call.numel += t.numel();
    call.bytes += t.numel() * static_cast<int64_t>(t.element_size());
  }
  if (!tensors.empty()) call.dtype = c10::toString(tensors[0].scalar_type());
  return call;
}

namespace {

// A Gloo send or receive, whose completion is seen where its caller sees it.
class WatchedMessage : public c10d::Work {
 public:
  WatchedMessage(compat::Work inner, uint64_t id) : inner_(std::move(inner)), id_(id) {}
  bool isCompleted() override {
    const bool done = inner_->isCompleted();
    if (done) seen(FlightState::kCompleted);  // an error shows at wait()
    return done;
  }
  bool wait(std::chrono::milliseconds timeout) override {
    try {
      const bool done = inner_->wait(timeout);
      seen(FlightState::kCompleted);
      return done;
    } catch (...) {
      seen(FlightState::kFailed);
      throw;
    }
  }
  void abort() override { inner_->abort(); }
  int sourceRank() const override { return inner_->sourceRank(); }

 private:
  void seen(FlightState s) {
    if (!marked_.exchange(true)) flight_recorder().mark(id_, s);
  }
  compat::Work inner_;
  uint64_t id_;
  std::atomic<bool> marked_{false};
};

}  // namespace

compat::Work watch_completion(const compat::Group& group, FlightOp op, compat::Work work,
                              uint64_t id) {
  if (!work) return work;
  if (runs_on_device_streams(group)) {
    flight_recorder().mark(id, FlightState::kEnqueued);
    return work;
  }
  if (is_message(op)) return c10::make_intrusive<WatchedMessage>(std::move(work), id);
  // One small callback per call: the only way to see completion without waiting for it.
  work->getFuture()->addCallback([id](c10::ivalue::Future& f) {
    flight_recorder().mark(id, f.hasError() ? FlightState::kFailed : FlightState::kCompleted);
  });
  return work;
}

}  // namespace parallax
