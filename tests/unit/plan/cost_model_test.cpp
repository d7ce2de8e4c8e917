// The cost model against hand-solved cases: a two-stage pipeline with known F, B, I, W times, a
// DDP step with known backward and bucket times, the collective fit on synthetic timings, and the
// ring closed forms.
#include "plan/cost_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "plan/collective_fit.h"
#include "plan/plan_candidates.h"

namespace parallax {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// Two blocks of one parameter each (1 MiB of fp32 each), times per block at `rows`.
Profile two_blocks(int64_t rows, BlockTimes b0, BlockTimes b1) {
  Profile p;
  p.block_names = {"a", "b"};
  p.block_params = {262144, 262144};
  p.param_numels = {262144, 262144};
  p.param_block = {0, 1};
  p.output_bytes_per_row = {100, 10};
  p.blocks_by_rows[rows] = {b0, b1};
  p.collectives["send_recv"] = {0, 1e18, 0};
  return p;
}

PlanCandidate pipeline(const std::string& schedule, int micro) {
  PlanCandidate c;
  c.label = schedule;
  c.strategy = "pipeline";
  c.world = c.pp = 2;
  c.schedule = schedule;
  c.micro_batches = micro;
  c.cuts = {0, 1, 2};
  return c;
}

TEST(CostModel, TwoStagePipelineMatchesTheHandSolvedMakespan) {
  // F = 1, B = 2 (I = W = 1) on each stage, 4 micro-batches of 4 rows.
  const Profile p = two_blocks(4, {1, 2, 1, 1}, {1, 2, 1, 1});
  // GPipe and 1F1B: (m + p - 1)(F + B) = 5 x 3.
  EXPECT_DOUBLE_EQ(predict_step(p, pipeline("gpipe", 4), 16).step_s, 15);
  EXPECT_DOUBLE_EQ(predict_step(p, pipeline("1f1b", 4), 16).step_s, 15);
  // ZB-H1: W fills the drain; only the start-up's p - 1 forwards stay idle: 3m + p - 1.
  EXPECT_DOUBLE_EQ(predict_step(p, pipeline("zb-h1", 4), 16).step_s, 13);
  const auto gpipe = predict_step(p, pipeline("gpipe", 4), 16);
  EXPECT_NEAR(gpipe.bubble, 3.0 / 15, 1e-12);  // each stage idle 3 of 15
  EXPECT_DOUBLE_EQ(gpipe.images_per_sec, 16.0 / 15);
}

TEST(CostModel, PipelineHopsAndOptimizerAddWhereTheyFall) {
  Profile p = two_blocks(4, {1, 2, 1, 1}, {1, 2, 1, 1});
  p.collectives["send_recv"] = {0.5, 1e18, 0};  // every crossing 0.5 s
  // GPipe: the last forward arrives 0.5 late, the first gradient back 0.5 late: 15 + 2 x 0.5.
  EXPECT_DOUBLE_EQ(predict_step(p, pipeline("gpipe", 4), 16).step_s, 16);
  p.optimizer_s_per_param = 1.0 / 262144;  // 1 s per stage's step, the stages at once
  p.step_overhead_s = 0.25;
  EXPECT_DOUBLE_EQ(predict_step(p, pipeline("gpipe", 4), 16).step_s, 17.25);
}

TEST(CostModel, PipelineRanksSharingCoresSlowOnlyWhileBothCompute) {
  Profile p = two_blocks(16, {1, 2, 1, 1}, {1, 2, 1, 1});
  p.slowdown = {1, 2};  // two ranks busy at once: each twice as slow
  // model (one micro-batch): the stages never compute together, so no slowdown at all.
  PlanCandidate model = pipeline("gpipe", 1);
  model.strategy = "model";
  EXPECT_DOUBLE_EQ(predict_step(p, model, 16).step_s, 6);
  EXPECT_DOUBLE_EQ(predict_step(p, model, 16).slowdown, 1);
}

PlanCandidate ddp(bool overlap) {
  PlanCandidate c;
  c.label = "ddp";
  c.strategy = "ddp";
  c.world = 2;
  c.overlap = overlap;
  c.first_bucket_mb = 1;
  c.bucket_mb = 25;
  c.tail_bucket_mb = 0;
  return c;
}

TEST(CostModel, DdpStepFromBackwardAndBucketTimes) {
  // Block b's gradient (1 MiB) is the first bucket, ready after b's backward (2 s); block a's
  // is the second, ready after a's (3 s more, at 5 s). Each all-reduce: 0.5 s + 1 MiB at 1 MiB/s.
  Profile p = two_blocks(8, {1, 3, 1.5, 1.5}, {1, 2, 1, 1});
  p.collectives["all_reduce"] = {0.5, kMiB, 4};
  // Forward 2 + backward 5; the first bucket ends at 3.5 (hidden), the second at 6.5: 1.5 exposed.
  const auto step = predict_step(p, ddp(true), 16);
  EXPECT_DOUBLE_EQ(step.step_s, 8.5);
  EXPECT_DOUBLE_EQ(step.exposed_comm_s, 1.5);
  EXPECT_DOUBLE_EQ(step.hidden_fraction, 0.5);
  // Without overlap both wait for the end of backward: 3 s exposed.
  EXPECT_DOUBLE_EQ(predict_step(p, ddp(false), 16).step_s, 10);
  // Where the collective shares the cores with compute (share 0.5), its bytes take 1.5x beside
  // it: each all-reduce 0.5 + 1.5 = 2 s, the second ends at 7 (2 s exposed); the 2 s hidden were
  // 2 / 1.5 s of its own work, which the compute loses half of.
  p.comm_compute_share = 0.5;
  EXPECT_NEAR(predict_step(p, ddp(true), 16).step_s, 2 + 5 + 2 + 0.5 * 2 / 1.5, 1e-12);
  // A collective's latency beside compute as measured under load (1 s): each 1 + 1 = 2 s.
  p.comm_compute_share = 0;
  p.loaded_latency_s = 1;
  EXPECT_DOUBLE_EQ(predict_step(p, ddp(true), 16).step_s, 9);
  EXPECT_DOUBLE_EQ(predict_step(p, ddp(false), 16).step_s, 10);  // after backward: no load
  p.loaded_latency_s = 0;
  // Two ranks on the machine run compute 1.5x slower: forward 3, backward 7.5; the second bucket
  // is ready at 7.5 and ends at 9: step 3 + 7.5 + 1.5 (+ 0.5 x the 1.5 s hidden).
  p.comm_compute_share = 0;
  p.slowdown = {1, 1.5};
  EXPECT_DOUBLE_EQ(predict_step(p, ddp(true), 16).step_s, 12);
}

TEST(CostModel, SingleIsTheSumOfItsParts) {
  Profile p = two_blocks(16, {1, 3, 1.5, 1.5}, {1, 2, 1, 1});
  p.optimizer_s_per_param = 0.5 / 524288;  // 0.5 s for both blocks' parameters
  p.loss_s_per_row = 0.25 / 16;
  PlanCandidate c;
  c.label = c.strategy = "single";
  EXPECT_DOUBLE_EQ(predict_step(p, c, 16).step_s, 2 + 0.25 + 5 + 0.5);
}

TEST(CostModel, SerialQueueAndOverlap) {
  EXPECT_EQ(serial_queue({0, 1, 10}, {2, 2, 1}), (std::vector<double>{2, 4, 11}));
  EXPECT_DOUBLE_EQ(overlap_s(0, 2, 1, 5), 1);
  EXPECT_DOUBLE_EQ(overlap_s(0, 1, 2, 5), 0);
}

TEST(CollectiveFit, RecoversLatencyAndBandwidthFromSyntheticTimings) {
  std::vector<std::pair<double, double>> samples;
  for (double bytes : {65536.0, 1048576.0, 8388608.0, 33554432.0})
    samples.push_back({bytes, 50e-6 + bytes / 2e9});
  const CollectiveFit f = fit_collective(samples);
  EXPECT_NEAR(f.latency_s, 50e-6, 1e-12);
  EXPECT_NEAR(f.bytes_per_s, 2e9, 1e-3);
  EXPECT_EQ(f.samples, 4);
  // Noise of +-5% still lands near.
  for (size_t i = 0; i < samples.size(); ++i) samples[i].second *= i % 2 ? 1.05 : 0.95;
  const CollectiveFit g = fit_collective(samples);
  EXPECT_NEAR(g.bytes_per_s / 2e9, 1, 0.1);
  EXPECT_THROW(fit_collective({{1, 1}}), std::invalid_argument);
}

TEST(CollectiveFit, RingClosedForms) {
  const Link link{10e-6, 1e9};
  // All-reduce 2(N-1)/N * S/B + 2(N-1) latencies.
  EXPECT_DOUBLE_EQ(ring_seconds("all_reduce", 1e9, 4, link), 1.5 + 6 * 10e-6);
  EXPECT_DOUBLE_EQ(ring_seconds("reduce_scatter", 1e9, 4, link), 0.75 + 3 * 10e-6);
  EXPECT_DOUBLE_EQ(ring_seconds("send_recv", 1e9, 4, link), 1 + 10e-6);
  const auto fits = ring_fits(512, link);
  EXPECT_NEAR(fits.at("all_reduce").seconds(1e8), ring_seconds("all_reduce", 1e8, 512, link),
              1e-12);
  // A 2-rank fit carried to 8 ranks is the 8-rank ring.
  const auto two = ring_fits(2, link).at("all_reduce");
  const auto eight = rescale_ring(two, "all_reduce", 2, 8);
  EXPECT_NEAR(eight.seconds(1e8), ring_seconds("all_reduce", 1e8, 8, link), 1e-12);
}

TEST(Profile, InterpolatesBetweenProfiledSizesAndScalesBeyond) {
  Profile p = two_blocks(8, {1, 2, 1, 1}, {2, 4, 2, 2});
  p.blocks_by_rows[16] = {{3, 6, 3, 3}, {4, 8, 4, 4}};
  EXPECT_DOUBLE_EQ(p.blocks_at(12)[0].forward, 2);
  EXPECT_DOUBLE_EQ(p.blocks_at(32)[1].backward, 16);
  EXPECT_DOUBLE_EQ(p.blocks_at(4)[0].forward, 0.5);
  p.slowdown = {1, 1.4, 2};
  EXPECT_DOUBLE_EQ(p.slowdown_at(1), 1);
  EXPECT_DOUBLE_EQ(p.slowdown_at(2.5), 1.7);
  EXPECT_DOUBLE_EQ(p.slowdown_at(9), 2);
}

TEST(PlanCandidates, EveryStrategyAndScheduleThatFits) {
  Profile p = two_blocks(1, {1, 2, 1, 1}, {1, 2, 1, 1});
  p.block_names = {"a", "b", "c", "d"};
  p.block_params = {1, 1, 1, 1};
  p.blocks_by_rows[1] = std::vector<BlockTimes>(4, {1, 2, 1, 1});
  CandidateSpace s;
  s.world = 2;
  s.batch = 8;
  std::vector<std::string> labels;
  for (const auto& c : plan_candidates(s, p)) labels.push_back(c.label);
  for (const char* want : {"single", "ddp", "ddp no-overlap", "zero-1", "zero-2", "zero-3", "model",
                           "pipeline gpipe m2", "pipeline 1f1b m8", "pipeline interleaved-1f1b m4",
                           "pipeline zb-v m2", "pipeline zb-h2 m4"})
    EXPECT_NE(std::find(labels.begin(), labels.end(), want), labels.end()) << want;
  // Four ranks: hybrid 2x2 too; a batch of 6 does not split over 4 ranks.
  s.world = 4;
  s.batch = 8;
  bool hybrid = false;
  for (const auto& c : plan_candidates(s, p)) hybrid |= c.strategy == "hybrid";
  EXPECT_TRUE(hybrid);
  s.batch = 6;
  s.strategies = {"ddp", "zero"};
  EXPECT_TRUE(plan_candidates(s, p).empty());
}

// --recompute settings: every strategy's candidate once per setting, labelled and run with it,
// and priced with the block times measured under it.
TEST(PlanCandidates, EachRecomputeSettingIsACandidatePricedWithItsOwnBlockTimes) {
  Profile p = two_blocks(4, {1, 2, 1, 1}, {1, 2, 1, 1});
  p.recomputed_blocks_by_rows["full"][4] = {{1, 3, 2, 1}, {1, 3, 2, 1}};
  CandidateSpace s;
  s.world = 2;
  s.batch = 8;
  s.strategies = {"ddp"};
  s.recompute = {"none", "full"};
  const auto candidates = plan_candidates(s, p);
  const auto plain = std::find_if(candidates.begin(), candidates.end(),
                                  [](const PlanCandidate& c) { return c.label == "ddp"; });
  const auto full = std::find_if(candidates.begin(), candidates.end(), [](const PlanCandidate& c) {
    return c.label == "ddp recompute full";
  });
  ASSERT_NE(plain, candidates.end());
  ASSERT_NE(full, candidates.end());
  EXPECT_EQ(full->recompute, "full");
  EXPECT_EQ(full->args.back(), "full");
  EXPECT_EQ(full->args[full->args.size() - 2], "--recompute");
  EXPECT_EQ(candidates.size(), 2 * std::count_if(candidates.begin(), candidates.end(),
                                                 [](const PlanCandidate& c) {
                                                   return c.recompute == "none";
                                                 }));
  // Its backward is the recomputed one: one more forward per block here.
  EXPECT_DOUBLE_EQ(p.under_recompute("full").blocks_at(4)[1].backward, 3);
  EXPECT_DOUBLE_EQ(p.under_recompute("none").blocks_at(4)[1].backward, 2);
  EXPECT_THROW(p.under_recompute("selective"), std::invalid_argument);
  const auto a = predict_step(p.under_recompute("none"), *plain, 8);
  const auto b = predict_step(p.under_recompute("full"), *full, 8);
  EXPECT_GT(b.backward_s, a.backward_s);
  EXPECT_GT(b.step_s, a.step_s);
}

// `plan --bucket-mb 10 --check` prices ddp and zero with 10 MiB buckets: their runs get the same
// (the check drops the user's own --bucket-mb, so each candidate carries its own), and the
// smaller-bucket candidate gives its 5 once.
TEST(PlanCandidates, CarryTheBucketSizeTheyWerePricedWith) {
  Profile p = two_blocks(1, {1, 2, 1, 1}, {1, 2, 1, 1});
  // Twenty 1 MiB parameters: 5 MiB buckets make another layout than 10 MiB ones.
  p.param_numels = std::vector<int64_t>(20, 262144);
  p.param_block = std::vector<size_t>(20, 0);
  std::fill(p.param_block.begin() + 10, p.param_block.end(), 1);
  CandidateSpace s;
  s.world = 2;
  s.batch = 8;
  s.bucket_mb = 10;
  int bucketed = 0;
  for (const auto& c : plan_candidates(s, p)) {
    if (c.strategy != "ddp" && c.strategy != "zero") continue;
    ++bucketed;
    std::vector<std::string> given;
    for (size_t i = 0; i + 1 < c.args.size(); ++i)
      if (c.args[i] == "--bucket-mb") given.push_back(c.args[i + 1]);
    ASSERT_EQ(given.size(), 1u) << c.label;
    EXPECT_EQ(std::stod(given[0]), c.bucket_mb) << c.label;
    EXPECT_EQ(c.bucket_mb, c.label == "ddp bucket 5" ? 5 : 10) << c.label;
  }
  EXPECT_EQ(bucketed, 6);  // ddp, ddp no-overlap, ddp bucket 5, zero-1, zero-2, zero-3
}

}  // namespace
}  // namespace parallax
