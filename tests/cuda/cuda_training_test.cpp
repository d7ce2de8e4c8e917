// Training on the GPU through the CLI: one GPU alone, checkpoints that move between devices, ranks
// sharing one GPU over Gloo under NCCL's rules (ddp, zero 1/2/3, pipeline, hybrid equal one device,
// evaluation included), and NCCL where there are two GPUs.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "../dist/run_params.h"
#include "../dist/trace_spans.h"
#include "cuda_util.h"
#include "test_paths.h"

namespace parallax {
namespace {

using testing::max_difference;
using testing::run_ok;
using testing::summary_of;

// float64, BatchNorm-free, no augmentation: the equivalence tests' set-up (tests/dist).
std::string cuda_args(const std::string& out, const std::string& device = "cuda") {
  return std::string(PARALLAX_BINARY) +
         " train --model resnet20 --norm none --dtype fp64 --image-size 16 --synthetic-train 48 "
         "--synthetic-test 32 --batch-size 16 --epochs 1 --lr 0.01 --lr-schedule constant "
         "--threads 1 --timing-warmup 0 --comm-timeout 60 --no-augment --bucket-mb 0.05 "
         "--device " +
         device + " --out " + out;
}

TEST(CudaTraining, OneGpuRunNamesCudaAndMeasuresItsMemory) {
  PARALLAX_REQUIRE_GPUS(1);
  testing::TempDir dir;
  run_ok(cuda_args(dir / "gpu"));
  const auto s = summary_of(dir / "gpu");
  EXPECT_EQ(s["cuda_compiled"], true);
  EXPECT_EQ(s["device"], "cuda:0");
  EXPECT_GT(s["ranks"][0]["device_memory"]["peak_allocated_bytes"].get<double>(), 0.0);
  // The same run on the CPU: the device changes no result beyond float64 rounding.
  run_ok(cuda_args(dir / "cpu", "cpu"));
  EXPECT_LT(max_difference(dir / "cpu", dir / "gpu"), 1e-10);
}

// The trace on a GPU: forward, backward and optimizer spans from CUDA events (each a positive
// time, in order), and with two ranks sharing the GPU (Gloo: host-timed collectives) each bucket's
// all-reduce on a comm track, every track nesting.
TEST(CudaTraining, TraceSpansComeFromCudaEvents) {
  PARALLAX_REQUIRE_GPUS(1);
  testing::TempDir dir;
  run_ok(cuda_args(dir / "single"));
  const auto single = testing::spans_of(dir / "single/trace/rank0.json");
  int phases = 0;
  double last_end = -1;
  for (const auto& s : single) {
    if (s.lane != "compute") continue;
    ++phases;
    EXPECT_GT(s.end, s.start) << s.name;
    EXPECT_GE(s.start, last_end - 1.0) << s.name << ": phases of a step follow each other";
    last_end = s.end;
  }
  EXPECT_EQ(phases, 3 * 3);  // 48 images in steps of 16: forward, backward, optimizer each
  run_ok(cuda_args(dir / "ddp") + " --nproc 2 --share-gpu --backend gloo --strategy ddp");
  const auto ddp = testing::spans_of(dir / "ddp/trace/rank0.json");
  const auto comm = std::count_if(ddp.begin(), ddp.end(), testing::on_comm_lane);
  EXPECT_EQ(testing::misnested(ddp), "");
  EXPECT_EQ(testing::misnested(single), "");
  const size_t buckets = summary_of(dir / "ddp")["strategy_details"]["buckets"].size();
  EXPECT_EQ(static_cast<size_t>(comm), 3 * buckets);
}

TEST(CudaTraining, ACheckpointWrittenOnTheGpuResumesOnTheCpu) {
  PARALLAX_REQUIRE_GPUS(1);
  testing::TempDir dir;
  // Without loading onto the rank's device, the optimizer state would stay on cuda:0 and the
  // CPU step would fail on mixed devices.
  run_ok(cuda_args(dir / "whole", "cpu") + " --epochs 2");
  run_ok(cuda_args(dir / "moved") + " --epochs 2 --steps 3");
  // --steps 0: the saved --steps 3 would leave the resumed run nothing to train.
  run_ok(std::string(PARALLAX_BINARY) + " train --resume " + (dir / "moved") +
         " --device cpu --steps 0");
  EXPECT_LT(max_difference(dir / "whole", dir / "moved"), 1e-10);
}

// Ranks sharing the one GPU over Gloo, every collective through the checking group with the
// rank's device cuda:0 (PARALLAX_CHECK_COLLECTIVES): a tensor off the device the backend needs,
// or issued outside the collectives layer, fails the run. Before that layer, this is the run that
// would have caught DataParallel::evaluate's CPU all-reduce. Each strategy trains and evaluates
// (one epoch ends with an evaluation) as one device does.
TEST(CudaTraining, RanksSharingOneGpuUnderNcclsRulesEqualOneDevice) {
  PARALLAX_REQUIRE_GPUS(1);
  testing::TempDir dir;
  run_ok(cuda_args(dir / "single"));
  const auto one = summary_of(dir / "single");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ddp", " --nproc 2 --strategy ddp"},
      {"zero-1", " --nproc 2 --strategy zero --zero-stage 1"},
      {"zero-2", " --nproc 2 --strategy zero --zero-stage 2"},
      {"zero-3", " --nproc 2 --strategy zero --zero-stage 3"},
      {"pipeline", " --nproc 2 --strategy pipeline --micro-batches 4"},
      {"hybrid", " --nproc 4 --strategy hybrid --dp 2 --pp 2 --micro-batches 2"},
  };
  for (const auto& [name, args] : cases) {
    SCOPED_TRACE(name);
    run_ok("PARALLAX_CHECK_COLLECTIVES=1 " + cuda_args(dir / name) +
           " --share-gpu --backend gloo" + args);
    EXPECT_LT(max_difference(dir / "single", dir / name), 1e-10);
    const auto s = summary_of(dir / name);
    EXPECT_NEAR(s["final_loss"].get<double>(), one["final_loss"].get<double>(), 1e-10);
    EXPECT_EQ(s["test_accuracy"], one["test_accuracy"]);
  }
  // Without --share-gpu, two ranks on one GPU is one clear line before any rank starts.
  const auto r =
      testing::run_command(cuda_args(dir / "refused", "cuda:0") + " --nproc 2 --strategy ddp");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--share-gpu"), std::string::npos) << r.output;
}

// Sharded ZeRO resumes from the host: the consolidated archive is read on the CPU and each rank
// copies its chunks to the GPU, so the parameters get new gradient accumulators there; the
// reducer hooks them again, or every bucket would wait for the end of backward and ZeRO-3 would
// keep the whole model gathered. The resumed run equals the uninterrupted one, and measures the
// same gathered parameters.
TEST(CudaTraining, ZeroThreeResumedFromTheHostOnTheGpuEqualsAndMeasuresAsAFreshRun) {
  PARALLAX_REQUIRE_GPUS(1);
  testing::TempDir dir;
  const std::string z3 = " --epochs 2 --nproc 2 --share-gpu --backend gloo --strategy zero "
                         "--zero-stage 3";
  run_ok(cuda_args(dir / "whole") + z3);
  run_ok(cuda_args(dir / "resumed") + z3 + " --steps 3");
  run_ok(std::string(PARALLAX_BINARY) + " train --resume " + (dir / "resumed") + " --steps 0");
  EXPECT_LT(max_difference(dir / "whole", dir / "resumed"), 1e-10);
  const auto whole = summary_of(dir / "whole")["ranks"], resumed = summary_of(dir / "resumed")["ranks"];
  for (size_t r = 0; r < 2; ++r)
    EXPECT_EQ(resumed[r]["memory_measured"]["parameters"], whole[r]["memory_measured"]["parameters"])
        << "rank " << r;
}

TEST(CudaTraining, NcclDdpAndPipelineOnTwoGpusEqualOneDeviceWithEventTimes) {
  PARALLAX_REQUIRE_GPUS(2);
  testing::TempDir dir;
  run_ok(cuda_args(dir / "single"));
  for (const std::string strategy : {"ddp", "zero", "pipeline"}) {
    // The pipeline's first exchange sets up NCCL's pair communicators: it must not deadlock.
    run_ok(cuda_args(dir / strategy) + " --nproc 2 --backend nccl --strategy " + strategy);
    EXPECT_LT(max_difference(dir / "single", dir / strategy), 1e-10) << strategy;
  }
  // Communication time from CUDA events: in flight for a real, positive time.
  EXPECT_GT(summary_of(dir / "ddp")["comm_busy_s"].get<double>(), 0.0);
  EXPECT_EQ(summary_of(dir / "ddp")["device"], "cuda:0");
}

}  // namespace
}  // namespace parallax
