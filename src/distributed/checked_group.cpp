// The checking group: NCCL's rules and cross-rank agreement, enforced on any backend.
#include "distributed/checked_group.h"

#include <torch/torch.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "distributed/collectives.h"

namespace parallax {
namespace {

enum Op : int64_t { kAllReduce, kBroadcast, kReduce, kAllGather, kReduceScatter, kBarrier, kP2p };
const char* const kOpNames[] = {"all_reduce", "broadcast",     "reduce",
                                "all_gather", "reduce_scatter", "barrier", "send/recv"};

int64_t fnv(const std::string& s, int64_t h = 1469598103934665603LL) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211LL;
  return h & 0x7fffffffffffffffLL;
}

// What both ends of a message, or every rank of a collective, must agree on.
struct Signature {
  int64_t seq = 0, op = 0, dtype = -1, numel = 0, tensors = 0, root = -1, shapes = 0, purpose = 0;
  std::vector<int64_t> row() const { return {seq, op, dtype, numel, tensors, root, shapes, purpose}; }
  bool operator==(const Signature& o) const { return row() == o.row(); }
};

Signature signature_of(Op op, const std::vector<torch::Tensor>& tensors, int64_t root,
                       const char* purpose) {
  Signature s;
  s.op = op;
  s.root = root;
  s.tensors = static_cast<int64_t>(tensors.size());
  s.purpose = fnv(purpose ? purpose : "");
  std::string shapes;
  for (const auto& t : tensors) {
    s.dtype = static_cast<int64_t>(t.scalar_type());
    s.numel += t.numel();
    for (auto d : t.sizes()) shapes += std::to_string(d) + ",";
    shapes += ";";
  }
  s.shapes = fnv(shapes);
  return s;
}

// PARALLAX_COLLECTIVE_LOG=DIR: every collective this process's checked groups pass, one line each
// in DIR/collectives.<pid>.tsv: rank/size in its group, op, purpose, dtype, elements, device.
class CollectiveLog {
 public:
  static CollectiveLog& get() {
    static CollectiveLog log;
    return log;
  }
  void write(int rank, int size, const char* op, const char* purpose,
             const std::vector<torch::Tensor>& tensors) {
    if (!file_) return;
    int64_t numel = 0;
    for (const auto& t : tensors) numel += t.numel();
    const std::string dtype = tensors.empty() ? "-" : c10::toString(tensors[0].scalar_type());
    const std::string device = tensors.empty() ? "-" : tensors[0].device().str();
    std::lock_guard<std::mutex> lock(mu_);
    std::fprintf(file_, "%d/%d\t%s\t%s\t%s\t%lld\t%s\n", rank, size, op, purpose, dtype.c_str(),
                 static_cast<long long>(numel), device.c_str());
    std::fflush(file_);
  }

 private:
  CollectiveLog() {
    const char* dir = std::getenv("PARALLAX_COLLECTIVE_LOG");
    if (!dir || !*dir) return;
    const std::string path = std::string(dir) + "/collectives." + std::to_string(getpid()) + ".tsv";
    file_ = std::fopen(path.c_str(), "w");
    if (!file_) throw std::runtime_error("PARALLAX_COLLECTIVE_LOG: cannot write " + path);
  }
  std::FILE* file_ = nullptr;
  std::mutex mu_;
};

class CheckedGroup : public compat::Backend {
 public:
  CheckedGroup(compat::Group inner, compat::Group helper, c10::intrusive_ptr<c10d::Store> store,
               const torch::Device& device)
      : compat::Backend(inner->getRank(), inner->getSize()),
        inner_(std::move(inner)),
        helper_(std::move(helper)),
        store_(std::move(store)),
        device_(device),
        sent_(inner_->getSize()),
        received_(inner_->getSize()) {}

  const std::string getBackendName() const override { return inner_->getBackendName(); }

  compat::Work allreduce(std::vector<torch::Tensor>& t,
                         const c10d::AllreduceOptions& o = c10d::AllreduceOptions()) override {
    agree(kAllReduce, t, -1, collective_device(device_));
    return inner_->allreduce(t, o);
  }
  compat::Work broadcast(std::vector<torch::Tensor>& t,
                         const c10d::BroadcastOptions& o = c10d::BroadcastOptions()) override {
    agree(kBroadcast, t, o.rootRank, collective_device(device_));
    return inner_->broadcast(t, o);
  }
  compat::Work reduce(std::vector<torch::Tensor>& t,
                      const c10d::ReduceOptions& o = c10d::ReduceOptions()) override {
    agree(kReduce, t, o.rootRank, host_side_device(inner_, device_));
    return inner_->reduce(t, o);
  }
  compat::Work allgather(std::vector<std::vector<torch::Tensor>>& out,
                         std::vector<torch::Tensor>& in,
                         const c10d::AllgatherOptions& o = c10d::AllgatherOptions()) override {
    for (auto& list : out) check_tensors(kAllGather, list, collective_device(device_));
    agree(kAllGather, in, -1, collective_device(device_));
    return inner_->allgather(out, in, o);
  }
  compat::Work _allgather_base(torch::Tensor& out, torch::Tensor& in,
                               const c10d::AllgatherOptions& o = c10d::AllgatherOptions()) override {
    agree(kAllGather, {out, in}, -1, collective_device(device_));
    return inner_->_allgather_base(out, in, o);
  }
  compat::Work _reduce_scatter_base(
      torch::Tensor& out, torch::Tensor& in,
      const c10d::ReduceScatterOptions& o = c10d::ReduceScatterOptions()) override {
    agree(kReduceScatter, {out, in}, -1, collective_device(device_));
    return inner_->_reduce_scatter_base(out, in, o);
  }
  compat::Work barrier(const c10d::BarrierOptions& o = c10d::BarrierOptions()) override {
    agree(kBarrier, {}, -1, device_);
    check_messages_matched();
    return inner_->barrier(o);
  }
  compat::Work send(std::vector<torch::Tensor>& t, int dst, int tag) override {
    meet(true, t, dst, tag);
    return inner_->send(t, dst, tag);
  }
  compat::Work recv(std::vector<torch::Tensor>& t, int src, int tag) override {
    meet(false, t, src, tag);
    return inner_->recv(t, src, tag);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("collective check (PARALLAX_CHECK_COLLECTIVES), rank " +
                             std::to_string(getRank()) + ": " + what);
  }

  const char* purpose_or_fail(Op op) const {
    const char* purpose = issuing_purpose();
    if (!purpose)
      fail(std::string(kOpNames[op]) + " issued outside src/distributed/collectives.h, which " +
           "puts tensors where the backend needs them: call it through that layer");
    return purpose;
  }

  void check_tensors(Op op, const std::vector<torch::Tensor>& tensors, const torch::Device& want) {
    const std::string where = std::string(kOpNames[op]) + " ('" + purpose_or_fail(op) + "')";
    for (const auto& t : tensors) {
      if (!t.defined()) fail(where + " of an undefined tensor");
      if (t.layout() != torch::kStrided) fail(where + " of a sparse tensor: NCCL moves dense ones");
      if (!t.is_contiguous()) fail(where + " of a non-contiguous tensor: NCCL refuses it");
      if (t.device() != want)
        fail(where + " of a tensor on " + t.device().str() + ", but " + getBackendName() +
             " on this rank needs it on " + want.str());
    }
  }

  void agree(Op op, const std::vector<torch::Tensor>& tensors, int64_t root,
             const torch::Device& want) {
    check_tensors(op, tensors, want);
    const char* purpose = purpose_or_fail(op);
    CollectiveLog::get().write(getRank(), getSize(), kOpNames[op], purpose, tensors);
    std::lock_guard<std::mutex> lock(mu_);
    purposes_[fnv(purpose)] = purpose;
    Signature mine = signature_of(op, tensors, root, purpose);
    mine.seq = seq_++;
    std::vector<torch::Tensor> in{torch::tensor(mine.row(), torch::kLong)};
    std::vector<std::vector<torch::Tensor>> out(1);
    for (int r = 0; r < getSize(); ++r) out[0].push_back(torch::empty_like(in[0]));
    helper_->allgather(out, in)->wait();
    for (int r = 0; r < getSize(); ++r) {
      const auto* v = out[0][r].data_ptr<int64_t>();
      Signature theirs{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
      if (!(theirs == mine))
        fail("collective #" + std::to_string(mine.seq) + " differs across ranks: this rank's is " +
             describe(mine) + ", rank " + std::to_string(r) + "'s is collective #" +
             std::to_string(theirs.seq) + ", " + describe(theirs) +
             " (NCCL would hang or corrupt here: issue collectives in the same order everywhere)");
    }
  }

  std::string describe(const Signature& s) const {
    const auto name = purposes_.find(s.purpose);
    const std::string dtype =
        s.dtype < 0 ? "" : std::string(" ") + c10::toString(static_cast<c10::ScalarType>(s.dtype));
    return std::string(kOpNames[s.op]) + " of " + std::to_string(s.numel) + dtype + " in " +
           std::to_string(s.tensors) + " tensor(s)" +
           (s.root >= 0 ? ", root " + std::to_string(s.root) : "") + " for '" +
           (name == purposes_.end() ? "a purpose this rank never issued" : name->second) + "'";
  }

  // Both ends of message n from src to dst with this tag write their signature; the second to
  // arrive compares them.
  void meet(bool sending, const std::vector<torch::Tensor>& t, int peer, int tag) {
    check_tensors(kP2p, t, host_side_device(inner_, device_));
    // The two ends name their purpose each in its own words: dtypes and shapes must agree.
    CollectiveLog::get().write(getRank(), getSize(), sending ? "send" : "recv",
                               purpose_or_fail(kP2p), t);
    const Signature mine = signature_of(kP2p, t, tag, "");
    std::lock_guard<std::mutex> lock(mu_);
    const int src = sending ? getRank() : peer, dst = sending ? peer : getRank();
    const std::string pair = std::to_string(src) + ">" + std::to_string(dst) + "/" + std::to_string(tag);
    const std::string key = "p2p/" + pair + "/" + std::to_string(messages_[{sending, pair}]++);
    (sending ? sent_ : received_).at(peer)++;
    auto row = mine.row();
    std::vector<uint8_t> bytes(reinterpret_cast<uint8_t*>(row.data()),
                               reinterpret_cast<uint8_t*>(row.data() + row.size()));
    store_->set(key + (sending ? "/send" : "/recv"), bytes);
    if (store_->add(key + "/ends", 1) != 2) return;
    const auto other = store_->get(key + (sending ? "/recv" : "/send"));
    for (const char* k : {"/send", "/recv", "/ends"}) store_->deleteKey(key + k);  // store stays small
    if (other != bytes)
      fail("message from rank " + std::to_string(src) + " to rank " + std::to_string(dst) +
           " (tag " + std::to_string(tag) + ") has different dtypes or shapes at its two ends");
  }

  // At a barrier every message sent must have been received: each rank publishes its counts.
  void check_messages_matched() {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string epoch = "counts/" + std::to_string(barriers_++) + "/";
    std::string mine;
    for (int r = 0; r < getSize(); ++r)
      mine += std::to_string(sent_[r]) + " " + std::to_string(received_[r]) + " ";
    store_->set(epoch + std::to_string(getRank()), std::vector<uint8_t>(mine.begin(), mine.end()));
    for (int r = 0; r < getSize(); ++r) {
      if (r == getRank()) continue;
      const auto raw = store_->get(epoch + std::to_string(r));  // waits for rank r's
      std::vector<int64_t> theirs;
      std::string s(raw.begin(), raw.end());
      for (size_t pos = 0, next; (next = s.find(' ', pos)) != std::string::npos; pos = next + 1)
        theirs.push_back(std::stoll(s.substr(pos, next - pos)));
      const int64_t they_got = theirs.at(2 * getRank() + 1), they_sent = theirs.at(2 * getRank());
      if (they_got != sent_[r] || they_sent != received_[r])
        fail("unmatched messages at a barrier: this rank sent " + std::to_string(sent_[r]) +
             " to rank " + std::to_string(r) + ", which received " + std::to_string(they_got) +
             "; it sent " + std::to_string(they_sent) + " and this rank received " +
             std::to_string(received_[r]));
    }
  }

  compat::Group inner_, helper_;
  c10::intrusive_ptr<c10d::Store> store_;
  torch::Device device_;
  std::mutex mu_;
  int64_t seq_ = 0, barriers_ = 0;
  std::map<int64_t, const char*> purposes_;
  std::map<std::pair<bool, std::string>, int64_t> messages_;
  std::vector<int64_t> sent_, received_;
};

}  // namespace

bool collectives_checked() {
  const char* v = std::getenv("PARALLAX_CHECK_COLLECTIVES");
  return v && std::string(v) == "1";
}

compat::Group make_checked_group(compat::Group inner, compat::Group helper,
                                 c10::intrusive_ptr<c10d::Store> store,
                                 const torch::Device& rank_device) {
  return c10::make_intrusive<CheckedGroup>(std::move(inner), std::move(helper), std::move(store),
                                           rank_device);
}

}  // namespace parallax
