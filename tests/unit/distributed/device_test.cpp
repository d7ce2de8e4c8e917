// GPUs for local ranks (pure, no GPU needed), the settings that guard them, and the stream clock on
// the CPU.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "config/validate.h"
#include "distributed/device.h"
#include "metrics/stream_clock.h"
#include "test_util.h"

namespace parallax {
namespace {

TEST(GpuForRank, EachLocalRankGetsItsOwnGpu) {
  // Every rank landing on cuda:0 was the defect: rank r must drive GPU r.
  for (int r = 0; r < 4; ++r) EXPECT_EQ(gpu_for_rank("cuda", r, 4, 4, false), r);
  EXPECT_EQ(gpu_for_rank("cuda:2", 0, 1, 4, false), 2);
}

TEST(GpuForRank, FewerGpusThanRanksIsOneLineUnlessSharingIsAsked) {
  testing::expect_user_error([] { gpu_for_rank("cuda", 0, 2, 1, false); },
                             {"--device cuda", "2 local ranks but 1 GPU", "--share-gpu"});
  testing::expect_user_error([] { gpu_for_rank("cuda:0", 1, 2, 1, false); },
                             {"--device cuda:0", "share one GPU", "--share-gpu"});
  testing::expect_user_error([] { gpu_for_rank("cuda:3", 0, 1, 2, false); },
                             {"--device cuda:3", "2 GPUs"});
  // Asked for in so many words: rank r takes GPU r mod count.
  EXPECT_EQ(gpu_for_rank("cuda", 1, 2, 1, true), 0);
  EXPECT_EQ(gpu_for_rank("cuda", 3, 4, 2, true), 1);
  EXPECT_EQ(gpu_for_rank("cuda:0", 1, 2, 1, true), 0);
}

TEST(GpuForRank, SharingNeedsCudaAndGlooAndMpiMakesNoSubgroups) {
  Config c;
  c.share_gpu = true;
  testing::expect_user_error([&] { validate(c); }, {"--share-gpu", "--device cuda"});
  c.device = "cuda";
  testing::expect_user_error([&] { validate(c); }, {"--share-gpu", "--backend gloo"});
  c.backend = "gloo";
  EXPECT_NO_THROW(validate(c));
  Config h;
  h.strategy = "hybrid";
  h.dp = h.pp = 2;
  h.backend = "mpi";
  testing::expect_user_error([&] { validate(h); }, {"--backend mpi", "hybrid"});
}

TEST(StreamClock, OnTheCpuMarksAreHostTimesFromTheOrigin) {
  StreamClock clock(torch::kCPU);
  EXPECT_FALSE(clock.on_device());
  clock.begin();
  const int a = clock.mark();
  // Real work between the marks (no sleep): a matrix product.
  auto x = torch::randn({256, 256});
  for (int i = 0; i < 20; ++i) x = torch::mm(x, x).tanh_();
  const int b = clock.mark();
  clock.resolve();
  EXPECT_GE(clock.at(a), 0.0);
  EXPECT_GT(clock.at(b), clock.at(a));
  // A new step forgets the last one's marks: indices start again at 0.
  clock.begin();
  EXPECT_EQ(clock.mark(), 0);
}

}  // namespace
}  // namespace parallax
