// GradReducer on two real Gloo ranks (two threads of this process, one HashStore): each
// parameter's .grad is a view of its bucket, and the buckets end a step holding, bit for bit, the
// mean of the two ranks' plain autograd gradients: over steps (zeroed between them), over
// accumulated micro-batches, and sharded (ZeRO-2: only this rank's chunk kept, buckets freed).
#include "parallel/grad_reducer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include <thread>

namespace parallax {
namespace {

constexpr int kWorld = 2;

// Made-up values from a formula, not the global generator, which the rank threads share.
torch::Tensor values(std::vector<int64_t> shape, double seed) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return torch::sin(torch::arange(n, torch::kFloat) * 0.7 + seed).view(shape);
}

// A two-layer perceptron's parameters (w1, b1, w2, b2), the same on every rank.
std::vector<torch::Tensor> make_params() {
  return {values({64, 32}, 1).requires_grad_(), values({64}, 2).requires_grad_(),
          values({10, 64}, 3).requires_grad_(), values({10}, 4).requires_grad_()};
}

torch::Tensor loss_of(const std::vector<torch::Tensor>& p, const torch::Tensor& x) {
  auto h = torch::relu(torch::addmm(p[1], x, p[0].t()));
  return torch::addmm(p[3], h, p[2].t()).pow(2).mean();
}

// Rank r's input at a step and micro-batch.
torch::Tensor input(int rank, int step, int micro) {
  return values({8, 32}, 10 + rank + 0.1 * step + 0.01 * micro);
}

// The mean over ranks of plain autograd's gradients (accumulated over micro-batches), as the
// reducer must compute it: (g0 + g1) / 2.
std::vector<torch::Tensor> reference(int step, int micro_batches) {
  std::vector<torch::Tensor> sum;
  for (int r = 0; r < kWorld; ++r) {
    auto p = make_params();
    for (int m = 0; m < micro_batches; ++m) loss_of(p, input(r, step, m)).backward();
    for (size_t i = 0; i < p.size(); ++i) {
      if (r == 0)
        sum.push_back(p[i].grad().clone());
      else
        sum[i] = sum[i] + p[i].grad();
    }
  }
  for (auto& g : sum) g.div_(kWorld);
  return sum;
}

struct RankResult {
  std::vector<std::vector<torch::Tensor>> grads;   // per step: each parameter's .grad
  std::vector<std::vector<torch::Tensor>> shards;  // per step: each bucket's shard
  bool grads_are_views = true;
  std::vector<bool> released;  // per step: no .grad left (release_buckets)
  int64_t peak_bucket_bytes = 0;
  std::vector<int64_t> bucket_padded;
  std::vector<int64_t> offset_of, bucket_of;
};

RankResult run_rank(const c10::intrusive_ptr<c10d::Store>& store, int rank, bool shard,
                    int micro_batches, int steps) {
  auto opts = c10d::ProcessGroupGloo::Options::create();
  opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  compat::Group group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, kWorld, opts);
  auto params = make_params();
  ReducerOptions ro;
  ro.first_bucket_mb = ro.bucket_mb = 2048.0 / (1024 * 1024);  // 2 KiB: several buckets
  ro.tail_bucket_mb = 0;
  ro.shard = shard;
  ro.release_buckets = shard;
  ro.rank = rank;
  GradReducer reducer(params, group, kWorld, ro);
  RankResult out;
  for (int s = 0; s < steps; ++s) {
    reducer.zero_grad();
    std::vector<const void*> before;  // from the second step on, the buckets' views
    for (const auto& p : params)
      before.push_back(p.grad().defined() ? p.grad().data_ptr() : nullptr);
    for (int m = 0; m < micro_batches; ++m) {
      reducer.prepare(/*sync=*/m + 1 == micro_batches);
      loss_of(params, input(rank, s, m)).backward();
    }
    reducer.finalize();
    std::vector<torch::Tensor> grads, shards;
    bool released = true;
    for (size_t k = 0; k < params.size(); ++k) {
      const auto& p = params[k];
      // Autograd accumulated in place, into the very bucket memory that was the .grad before.
      if (s > 0 && !shard)
        out.grads_are_views = out.grads_are_views && before[k] == p.grad().data_ptr();
      grads.push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
      released = released && !p.grad().defined();
    }
    for (size_t b = 0; b < reducer.layout().buckets.size(); ++b)
      if (shard) shards.push_back(reducer.shard_grad(b).clone());
    out.grads.push_back(grads);
    out.shards.push_back(shards);
    out.released.push_back(released);
  }
  const auto& layout = reducer.layout();
  for (const auto& plan : layout.buckets) out.bucket_padded.push_back(plan.padded);
  for (size_t k = 0; k < params.size(); ++k) {
    out.offset_of.push_back(layout.offset_of[k]);
    out.bucket_of.push_back(static_cast<int64_t>(layout.bucket_of[k]));
  }
  out.peak_bucket_bytes = reducer.peak_bucket_bytes();
  return out;
}

std::vector<RankResult> run_world(bool shard, int micro_batches, int steps) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  std::vector<RankResult> results(kWorld);
  std::vector<std::thread> threads;
  for (int r = 0; r < kWorld; ++r)
    threads.emplace_back([&, r] { results[r] = run_rank(store, r, shard, micro_batches, steps); });
  for (auto& t : threads) t.join();
  return results;
}

TEST(GradReducer, BucketViewsHoldTheRanksMeanGradientBitForBit) {
  for (int micro : {1, 2}) {
    const auto results = run_world(/*shard=*/false, micro, /*steps=*/2);
    for (int s = 0; s < 2; ++s) {
      const auto expected = reference(s, micro);
      for (int r = 0; r < kWorld; ++r)
        for (size_t i = 0; i < expected.size(); ++i)
          EXPECT_TRUE(torch::equal(results[r].grads[s][i], expected[i]))
              << "rank " << r << " step " << s << " parameter " << i << " micro " << micro;
    }
    for (int r = 0; r < kWorld; ++r) EXPECT_TRUE(results[r].grads_are_views) << "micro " << micro;
  }
}

TEST(GradReducer, StageTwoKeepsOnlyItsChunkBitForBitAndFreesTheBuckets) {
  const auto results = run_world(/*shard=*/true, /*micro_batches=*/2, /*steps=*/2);
  for (int s = 0; s < 2; ++s) {
    const auto expected = reference(s, 2);
    for (int r = 0; r < kWorld; ++r) {
      const RankResult& got = results[r];
      EXPECT_TRUE(got.released[s]) << "a .grad outlived its bucket's reduce-scatter";
      // The whole mean gradient laid out as the buckets hold it, then this rank's chunk of each.
      for (size_t b = 0; b < got.bucket_padded.size(); ++b) {
        auto flat = torch::zeros({got.bucket_padded[b]});
        for (size_t k = 0; k < expected.size(); ++k)
          if (got.bucket_of[k] == static_cast<int64_t>(b))
            flat.narrow(0, got.offset_of[k], expected[k].numel()).copy_(expected[k].reshape(-1));
        const int64_t chunk = got.bucket_padded[b] / kWorld;
        EXPECT_TRUE(torch::equal(got.shards[s][b], flat.narrow(0, r * chunk, chunk)))
            << "rank " << r << " step " << s << " bucket " << b;
      }
      // Measured by the allocator: some whole bucket existed, never more than all of them.
      int64_t all = 0;
      for (int64_t padded : got.bucket_padded) all += padded * 4;
      EXPECT_GT(got.peak_bucket_bytes, 0);
      EXPECT_LE(got.peak_bucket_bytes, all + 4096 * static_cast<int64_t>(got.bucket_padded.size()));
    }
  }
}

}  // namespace
}  // namespace parallax
