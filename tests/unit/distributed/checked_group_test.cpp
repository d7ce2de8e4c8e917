// The checking group (PARALLAX_CHECK_COLLECTIVES) on two real Gloo ranks, two threads of this
// process sharing a HashStore: what NCCL would refuse or hang on is refused, on every rank, with
// a message naming it; what is right passes and computes the same sums.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>

#include <functional>
#include <future>
#include <string>
#include <thread>

#include "distributed/checked_group.h"
#include "distributed/collectives.h"

namespace parallax {
namespace {

constexpr int kRanks = 2;

struct CheckedRank {
  compat::Group inner, checked;
};

compat::Group gloo_on(const c10::intrusive_ptr<c10d::Store>& store, const std::string& prefix,
                      int rank) {
  auto opts = c10d::ProcessGroupGloo::Options::create();
  opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(
      c10::make_intrusive<c10d::PrefixStore>(prefix, store), rank, kRanks, opts);
}

// Runs body(rank, group) on both ranks; returns each rank's exception message ("" if none).
std::vector<std::string> on_two_ranks(const std::function<void(int, CheckedRank&)>& body,
                                      torch::Device claimed = torch::kCPU) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  std::vector<std::string> errors(kRanks);
  std::vector<std::thread> threads;
  for (int r = 0; r < kRanks; ++r)
    threads.emplace_back([&, r] {
      CheckedRank g;
      g.inner = gloo_on(store, "inner", r);
      g.checked = make_checked_group(g.inner, gloo_on(store, "helper", r),
                                     c10::make_intrusive<c10d::PrefixStore>("msgs", store), claimed);
      try {
        body(r, g);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  return errors;
}

torch::Tensor ranked(int rank, int64_t n) {
  return torch::full({n}, static_cast<double>(rank + 1), torch::kDouble);
}

TEST(CheckedGroup, CollectivesAndMessagesThroughTheLayerInOneOrderPassWithTheSameResults) {
  std::vector<double> sums(kRanks), received(kRanks);
  const auto errors = on_two_ranks([&](int rank, CheckedRank& g) {
    sums[rank] = HostSum(g.checked, ranked(rank, 3), torch::kCPU, "test sums").host()[0].item<double>();
    std::vector<torch::Tensor> msg{ranked(rank, 4)};
    if (rank == 0) send(g.checked, msg, 1, 5, "test message")->wait();
    else recv(g.checked, msg, 0, 5, "test message")->wait();
    received[rank] = msg[0][0].item<double>();
    barrier(g.checked, "test barrier");
  });
  EXPECT_EQ(errors, std::vector<std::string>(kRanks, ""));
  EXPECT_EQ(sums, std::vector<double>(kRanks, 3.0));  // 1 + 2 on both ranks
  EXPECT_EQ(received, (std::vector<double>{1.0, 1.0}));  // rank 0's message reached rank 1
}

TEST(CheckedGroup, ACollectiveIssuedOutsideTheCollectivesLayerIsRefused) {
  const auto errors = on_two_ranks([](int rank, CheckedRank& g) {
    std::vector<torch::Tensor> t{ranked(rank, 2)};
    g.checked->allreduce(t)->wait();
  });
  for (const auto& e : errors)
    EXPECT_NE(e.find("all_reduce issued outside src/distributed/collectives.h"), std::string::npos)
        << e;
}

TEST(CheckedGroup, CollectivesInDifferentOrdersAreNamedOnEveryRank) {
  const auto errors = on_two_ranks([](int rank, CheckedRank& g) {
    std::vector<torch::Tensor> t{ranked(rank, 5)};
    if (rank == 0) all_reduce_sum(g.checked, t, "evaluation totals")->wait();
    else broadcast(g.checked, t, 0, "replica check")->wait();
  });
  EXPECT_NE(errors[0].find("collective #0 differs across ranks: this rank's is all_reduce of 5 "
                           "Double in 1 tensor(s) for 'evaluation totals', rank 1's is collective "
                           "#0, broadcast of 5 Double in 1 tensor(s), root 0"),
            std::string::npos)
      << errors[0];
  EXPECT_NE(errors[1].find("this rank's is broadcast"), std::string::npos) << errors[1];
}

TEST(CheckedGroup, TensorsOffTheBackendsDeviceOrNotContiguousAreRefusedBeforeAnyTraffic) {
  // Told the rank's device is a GPU: a CPU tensor in an all-reduce is the evaluation crash NCCL
  // gave ("Tensors must be CUDA and dense"); send/recv stay on the host under Gloo.
  const auto off_device = on_two_ranks(
      [](int rank, CheckedRank& g) {
        std::vector<torch::Tensor> t{ranked(rank, 3)};
        all_reduce_sum(g.checked, t, "evaluation totals");
      },
      torch::Device(torch::kCUDA, 0));
  for (const auto& e : off_device)
    EXPECT_NE(e.find("all_reduce ('evaluation totals') of a tensor on cpu, but gloo on this rank "
                     "needs it on cuda:0"),
              std::string::npos)
        << e;
  const auto strided = on_two_ranks([](int rank, CheckedRank& g) {
    std::vector<torch::Tensor> t{torch::zeros({4, 4}, torch::kDouble).t()};
    all_reduce_sum(g.checked, t, "transposed");
  });
  for (const auto& e : strided)
    EXPECT_NE(e.find("of a non-contiguous tensor"), std::string::npos) << e;
}

TEST(CheckedGroup, AMessageWhoseEndsDifferIsRefused) {
  std::promise<void> sent;
  auto posted = sent.get_future().share();
  const auto errors = on_two_ranks([&](int rank, CheckedRank& g) {
    std::vector<torch::Tensor> four{ranked(rank, 4)}, three{ranked(rank, 3)};
    if (rank == 0) {
      auto work = send(g.checked, four, 1, 9, "activation");
      sent.set_value();
      work->wait();
    } else {
      posted.wait();  // rank 0's end is in the store: this end is the second, which compares
      try {
        recv(g.checked, three, 0, 9, "activation");
      } catch (...) {
        g.inner->recv(four, 0, 9)->wait();  // drains rank 0's send, so its rank can end
        throw;
      }
    }
  });
  EXPECT_EQ(errors[0], "");
  EXPECT_NE(errors[1].find("message from rank 0 to rank 1 (tag 9) has different dtypes or shapes "
                           "at its two ends"),
            std::string::npos)
      << errors[1];
}

TEST(CheckedGroup, AMessageNeverReceivedIsNamedAtTheNextBarrier) {
  const auto errors = on_two_ranks([](int rank, CheckedRank& g) {
    std::vector<torch::Tensor> t{ranked(rank, 2)};
    // Rank 1 takes it past the check, as a receive with no matching peer would look.
    if (rank == 0) send(g.checked, t, 1, 3, "orphan")->wait();
    else g.inner->recv(t, 0, 3)->wait();
    barrier(g.checked, "end of step");
  });
  EXPECT_NE(errors[0].find("unmatched messages at a barrier: this rank sent 1 to rank 1, which "
                           "received 0"),
            std::string::npos)
      << errors[0];
  EXPECT_NE(errors[1].find("unmatched messages"), std::string::npos) << errors[1];
}

}  // namespace
}  // namespace parallax
