// Bucket layout and shards: pure functions, checked against hand-made tables.
#include "parallel/bucket_layout.h"

#include <gtest/gtest.h>

#include <set>

namespace parallax {
namespace {

TEST(ShardOf, SlicesAreDisjointEqualSizedAndCoverTheBuffer) {
  for (int64_t numel : {0, 1, 7, 8, 9, 1000003}) {
    for (int world : {1, 2, 3, 4, 8}) {
      int64_t covered = 0, next = 0;
      for (int r = 0; r < world; ++r) {
        const Shard s = shard_of(numel, r, world);
        EXPECT_EQ(s.chunk, (numel + world - 1) / world);
        EXPECT_LE(s.numel, s.chunk);
        if (s.numel > 0) {
          EXPECT_EQ(s.offset, next) << numel << " over " << world;
        }
        next = s.offset + s.numel;
        covered += s.numel;
      }
      EXPECT_EQ(covered, numel) << numel << " over " << world;
    }
  }
  const Shard last = shard_of(10, 3, 4);  // chunks of 3: 0-2, 3-5, 6-8, 9
  EXPECT_EQ(last.offset, 9);
  EXPECT_EQ(last.numel, 1);
  const Shard empty = shard_of(2, 3, 4);  // chunks of 1: ranks 2 and 3 hold padding only
  EXPECT_EQ(empty.numel, 0);
}

TEST(PlanBuckets, ReverseOrderFirstBucketSmallThenCapped) {
  // Sizes in elements of 4 bytes: 100 B first bucket, 200 B after.
  const std::vector<int64_t> numels{10, 30, 20, 5, 40, 3};
  const BucketLayout l = plan_buckets(numels, 4, 100, 200, 1);
  // Reverse order: [3] (12 B; +160 B overflows 100), [40, 5] (180 B), [20, 30] (200 B), [10].
  ASSERT_EQ(l.buckets.size(), 4u);
  EXPECT_EQ(l.buckets[0].params, (std::vector<size_t>{5}));
  EXPECT_EQ(l.buckets[1].params, (std::vector<size_t>{4, 3}));
  EXPECT_EQ(l.buckets[2].params, (std::vector<size_t>{2, 1}));
  EXPECT_EQ(l.buckets[3].params, (std::vector<size_t>{0}));
  EXPECT_EQ(l.buckets[1].offsets, (std::vector<int64_t>{0, 40}));
  EXPECT_EQ(l.buckets[1].numel, 45);
  EXPECT_EQ(l.bucket_of[3], 1u);
  EXPECT_EQ(l.offset_of[3], 40);
  // Every parameter in exactly one bucket.
  std::set<size_t> seen;
  for (const auto& b : l.buckets)
    for (size_t k : b.params) EXPECT_TRUE(seen.insert(k).second);
  EXPECT_EQ(seen.size(), numels.size());
}

TEST(PlanBuckets, PaddedToTheWorldSoEveryRankOwnsAnEqualChunk) {
  const BucketLayout l = plan_buckets({7, 6}, 4, 1e9, 1e9, 4);
  ASSERT_EQ(l.buckets.size(), 1u);
  EXPECT_EQ(l.buckets[0].numel, 13);
  EXPECT_EQ(l.buckets[0].padded, 16);
}

TEST(PlanBuckets, AParameterLargerThanABucketGetsOneOfItsOwn) {
  const BucketLayout l = plan_buckets({1000, 1, 1}, 4, 8, 8, 1);
  ASSERT_EQ(l.buckets.size(), 2u);
  EXPECT_EQ(l.buckets[0].params, (std::vector<size_t>{2, 1}));
  EXPECT_EQ(l.buckets[1].params, (std::vector<size_t>{0}));
}

TEST(PlanBuckets, TaperedTailEndsWithTheSmallestBucket) {
  // 4-byte elements; body buckets 400 B, first 100 B, tail caps 40 B then 80 B (160 >= 400? no:
  // 40, 80, 160, 320, then 640 >= 400 stops the taper).
  const std::vector<int64_t> numels{5, 5, 10, 10, 30, 50, 100, 100};
  const BucketLayout l = plan_buckets(numels, 4, 100, 400, 1, 40);
  // Tail from the model's start: {0,1} (40 B), {2,3} (80 B), {4} (120 B; +200 B > 160),
  // {5} (200 B; +400 B > 320); body in reverse: {7} (400 B > 100 B cap alone), {6}.
  ASSERT_EQ(l.buckets.size(), 6u);
  EXPECT_EQ(l.buckets[0].params, (std::vector<size_t>{7}));
  EXPECT_EQ(l.buckets[1].params, (std::vector<size_t>{6}));
  EXPECT_EQ(l.buckets[2].params, (std::vector<size_t>{5}));
  EXPECT_EQ(l.buckets[3].params, (std::vector<size_t>{4}));
  EXPECT_EQ(l.buckets[4].params, (std::vector<size_t>{3, 2}));
  EXPECT_EQ(l.buckets[5].params, (std::vector<size_t>{1, 0}));
  EXPECT_EQ(l.buckets[5].offsets, (std::vector<int64_t>{0, 5}));
  EXPECT_EQ(l.bucket_of[0], 5u);
  EXPECT_EQ(l.offset_of[0], 5);
}

TEST(PlanBuckets, ATailCapAboveTheBucketSizeIsNoTaper) {
  const BucketLayout l = plan_buckets({2, 2, 2}, 4, 100, 400, 1, 1000);
  ASSERT_EQ(l.buckets.size(), 1u);
  EXPECT_EQ(l.buckets[0].params, (std::vector<size_t>{2, 1, 0}));
}

// AdamW's decayed parts of a rank's chunk: parameters cut at the chunk's edges, neighbours
// merged, the others and the padding left out.
TEST(SelectedParts, ChunkPartsOfTheMarkedParameters) {
  // Sizes 4, 3, 5, 2 in reverse order: [3]=2 at 0, [2]=5 at 2, [1]=3 at 7, [0]=4 at 10; 14 real
  // elements padded to 16, chunks of 4 over 4 ranks.
  const BucketLayout l = plan_buckets({4, 3, 5, 2}, 4, 1e9, 1e9, 4);
  ASSERT_EQ(l.buckets.size(), 1u);
  const BucketPlan& b = l.buckets[0];
  ASSERT_EQ(b.padded, 16);
  const std::vector<int64_t> numels{4, 3, 5, 2};
  const std::vector<bool> marked{true, false, true, true};
  using Parts = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(selected_parts(b, numels, marked, 0, 4), (Parts{{0, 4}}));    // [3] then [2]: merged
  EXPECT_EQ(selected_parts(b, numels, marked, 4, 4), (Parts{{0, 3}}));    // [2]'s end, then [1]
  EXPECT_EQ(selected_parts(b, numels, marked, 8, 4), (Parts{{2, 4}}));    // [1]'s end, [0]
  EXPECT_EQ(selected_parts(b, numels, marked, 12, 4), (Parts{{0, 2}}));   // [0]'s end, padding
  EXPECT_EQ(selected_parts(b, numels, {false, false, false, false}, 0, 16), Parts{});
  EXPECT_EQ(selected_parts(b, numels, {true, true, true, true}, 0, 16), (Parts{{0, 14}}));
}

}  // namespace
}  // namespace parallax
