// The memory model, table-tested: the ZeRO paper's figures from its rule, sharding by stage, the
// pipeline schedules' held micro-batches, and the peak laid over the block list.
#include "plan/memory_model.h"

#include <gtest/gtest.h>

namespace parallax {
namespace {

TEST(MemoryModel, ZeroRuleGivesThePapersFigures) {
  // Adam in mixed precision: 2-byte weights and gradients, 12 bytes of fp32 optimizer state.
  const double psi = 1e9;
  EXPECT_DOUBLE_EQ(zero_rule_bytes(0, psi, 64, 2, 12), 16 * psi);
  EXPECT_DOUBLE_EQ(zero_rule_bytes(1, psi, 64, 2, 12), 4 * psi + 12 * psi / 64);
  EXPECT_DOUBLE_EQ(zero_rule_bytes(2, psi, 64, 2, 12), 2 * psi + 14 * psi / 64);
  EXPECT_DOUBLE_EQ(zero_rule_bytes(3, psi, 64, 2, 12), 16 * psi / 64);
  // fp32 SGD with momentum: 12Ψ in plain DP.
  EXPECT_DOUBLE_EQ(zero_rule_bytes(0, psi, 4, 4, 4), 12 * psi);
}

// Four blocks of 1000 parameters (one each), 100 bytes of activations per image per block.
MemoryWorkload workload() {
  MemoryWorkload w;
  w.block_params = {1000, 1000, 1000, 1000};
  w.param_numels = {1000, 1000, 1000, 1000};
  w.param_block = {0, 1, 2, 3};
  w.block_buffer_bytes = {0, 0, 0, 0};
  w.element_bytes = 4;
  w.optimizer_slots = 1;
  w.batch = 8;
  for (int64_t rows : {1, 2, 4, 8})
    w.activations_by_rows[rows] = std::vector<int64_t>(4, 100 * rows);
  w.bucket_mb = w.first_bucket_mb = 4000.0 / (1024 * 1024);  // one block per bucket
  w.tail_bucket_mb = 0;
  return w;
}

TEST(MemoryModel, ShardingFollowsTheStage) {
  const auto w = workload();
  const auto ddp = predict_memory(w, {"ddp", "ddp", 2, 1, 2, true, "1f1b", 1, {}}).front();
  EXPECT_EQ(ddp.parameters, 16000);
  EXPECT_EQ(ddp.gradients, 16000);
  EXPECT_EQ(ddp.optimizer_state, 16000);
  EXPECT_EQ(ddp.activations, 4 * 100 * 4);  // 4 images per rank
  const auto z1 = predict_memory(w, {"z1", "zero", 2, 1, 2, true, "1f1b", 1, {}}).front();
  EXPECT_EQ(z1.optimizer_state, 8000);
  EXPECT_EQ(z1.gradients, 16000);
  const auto z2 =
      predict_memory(w, {"z2", "zero", 2, 2, /*buckets_in_flight=*/1, true, "1f1b", 1, {}}).front();
  EXPECT_EQ(z2.gradients, 8000 + 4000);  // the shard plus one whole bucket
  const auto z3 = predict_memory(w, {"z3", "zero", 2, 3, 1, true, "1f1b", 1, {}}).front();
  EXPECT_EQ(z3.parameters, 8000);
  EXPECT_EQ(predict_memory(w, {"z3", "zero", 4, 3, 1, true, "1f1b", 1, {}}).size(), 4u);
  // Each peak holds at least the model states it keeps and the activations of forward's end.
  for (const auto& m : {ddp, z1, z2, z3})
    EXPECT_GE(m.peak, m.parameters + m.optimizer_state + m.activations);
}

TEST(MemoryModel, Bf16OnTheWireAddsTwoBytesPerReducedElement) {
  auto w = workload();
  w.wire_bf16 = true;
  // DDP keeps each bucket's bf16 copy from step to step: 4000 elements x 2 bytes.
  const auto ddp = predict_memory(w, {"ddp", "ddp", 2, 1, 2, true, "1f1b", 1, {}}).front();
  EXPECT_EQ(ddp.gradients, 16000 + 8000);
  // ZeRO-2 has the copy of the one bucket in flight only.
  const auto z2 = predict_memory(w, {"z2", "zero", 2, 2, 1, true, "1f1b", 1, {}}).front();
  EXPECT_EQ(z2.gradients, 8000 + 4000 + 2000);
  // One device reduces nothing: no copy.
  EXPECT_EQ(predict_memory(w, {"s", "single", 1, 1, 2, true, "1f1b", 1, {}}).front().gradients,
            16000);
}

TEST(MemoryModel, PipelineSchedulesHoldTheirMicroBatches) {
  const auto w = workload();
  MemoryCandidate c{"p", "pipeline", 2, 1, 2, true, "gpipe", 4, {0, 2, 4}};
  c.micro_batches = 4;  // 2 images each
  c.cuts = {0, 2, 4};
  c.schedule = "gpipe";
  const auto gpipe = predict_memory(w, c);
  ASSERT_EQ(gpipe.size(), 2u);
  EXPECT_EQ(gpipe[0].parameters, 8000);
  EXPECT_EQ(gpipe[0].activations, 4 * 2 * 200);  // all 4 micro-batches of 2 blocks x 200 bytes
  c.schedule = "1f1b";
  const auto ofob = predict_memory(w, c);
  EXPECT_EQ(ofob[0].activations, 2 * 2 * 200);  // stage 0 of 2 holds 2
  EXPECT_EQ(ofob[1].activations, 1 * 2 * 200);  // the last stage holds 1
  c.strategy = "model";
  EXPECT_EQ(predict_memory(w, c)[0].activations, 2 * 800);  // the whole batch, once
}

// --recompute: each block holds less through the step, and its backward builds its activations
// again for a while, one block at a time: the peak adds the largest block's rebuild, not all.
TEST(MemoryModel, RecomputationHoldsLessAndRebuildsOneBlockAtATime) {
  // 1000 bytes of activations per image per block; recomputed, each block keeps 100 (its input)
  // and its backward builds the other 900 again.
  auto plain = workload(), full = workload();
  full.recompute = "full";
  for (int64_t rows : {1, 2, 4, 8}) {
    plain.activations_by_rows[rows] = std::vector<int64_t>(4, 1000 * rows);
    full.activations_by_rows[rows] = std::vector<int64_t>(4, 100 * rows);
    full.rebuilt_by_rows[rows] = std::vector<int64_t>(4, 900 * rows);
  }
  const MemoryCandidate single{"s", "single", 1, 1, 2, true, "1f1b", 1, {}};
  const auto none = predict_memory(plain, single).front();
  const auto recomputed = predict_memory(full, single).front();
  EXPECT_EQ(none.activations, 4 * 1000 * 8);
  EXPECT_EQ(recomputed.activations, 4 * 100 * 8);
  const int64_t states = 16000 + 16000;  // parameters and momentum
  EXPECT_EQ(none.peak, states + 4 * 8000);  // forward's end
  // The first block's backward: three blocks' gradients, its kept input and its activations
  // built again (7200 bytes for 8 images), never two blocks' at once.
  EXPECT_EQ(recomputed.peak, states + 12000 + 800 + 7200);
  // A pipeline stage rebuilds one of its blocks at a time, on top of its held micro-batches.
  MemoryCandidate c{"p", "pipeline", 2, 1, 2, true, "1f1b", 4, {0, 2, 4}};
  const auto stages = predict_memory(full, c);
  const auto plain_stages = predict_memory(plain, c);
  EXPECT_EQ(stages[0].activations, 2 * 2 * 200);  // 1F1B: stage 0 of 2 holds 2 micro-batches
  EXPECT_EQ(stages[0].peak - plain_stages[0].peak,
            (stages[0].activations - plain_stages[0].activations) + 900 * 2);
}

}  // namespace
}  // namespace parallax
