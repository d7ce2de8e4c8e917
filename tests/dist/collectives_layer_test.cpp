// Every byte between ranks goes through src/distributed/collectives.h, which puts tensors where
// the backend needs them and brings results back. The checking group refuses any collective
// issued outside it (CheckedGroup.CollectivesOutsideTheLayerAreRefused), and every dist test runs
// under that group. Here its record (PARALLAX_COLLECTIVE_LOG) of real runs shows the small sums
// the host reads going through the layer, labelled: evaluation's totals, and each step's loss,
// accuracy, stop flag and gradient norm, on which fp16's skip decision and the divergence check
// rest. Before the layer, DataParallel::evaluate all-reduced a CPU tensor, which NCCL refuses.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "run_params.h"

namespace parallax {
namespace {

using testing::checked_parallax;
using testing::run_ok;

struct Entry {
  std::string group, op, purpose, dtype, device;
  int64_t numel = 0;
};

// One record per rank process (named by its pid), each in the order that process issued them.
std::vector<std::vector<Entry>> read_records(const std::string& dir) {
  std::vector<std::vector<Entry>> out;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(f.path());
    std::vector<Entry> entries;
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      Entry e;
      std::string numel;
      std::getline(fields, e.group, '\t');
      std::getline(fields, e.op, '\t');
      std::getline(fields, e.purpose, '\t');
      std::getline(fields, e.dtype, '\t');
      std::getline(fields, numel, '\t');
      std::getline(fields, e.device, '\t');
      e.numel = std::stoll(numel);
      entries.push_back(e);
    }
    out.push_back(entries);
  }
  return out;
}

const char* const kStepSums = "step sums: loss, accuracy, stop, norm";
const char* const kEvaluation = "evaluation totals";

TEST(CollectivesLayer, TheHostsSmallSumsGoThroughItOnEveryStrategy) {
  struct Case {
    std::string name, args;
  };
  const std::vector<Case> cases = {
      {"ddp", " --strategy ddp"},
      {"zero1", " --strategy zero --zero-stage 1"},
      {"zero3", " --strategy zero --zero-stage 3"},
      {"pipeline", " --strategy pipeline --micro-batches 2"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    testing::TempDir dir;
    const std::string record = dir / "record";
    std::filesystem::create_directories(record);
    // 48 images in batches of 16: 3 steps, and one evaluation at the epoch's end.
    run_ok("PARALLAX_COLLECTIVE_LOG=" + record + " " + checked_parallax() +
           " train --model resnet20 --norm none --image-size 16 --synthetic-train 48 "
           "--synthetic-test 32 --batch-size 16 --threads 1 --timing-warmup 0 --comm-timeout 30 "
           "--epochs 1 --nproc 2 --out " + (dir / "run") + c.args);
    const auto processes = read_records(record);
    ASSERT_EQ(processes.size(), 2u) << "one record per rank";
    for (const auto& entries : processes) {
      std::map<std::string, int> small_sums;  // all-reduces of at most 8 elements, by purpose
      for (const auto& e : entries) {
        EXPECT_FALSE(e.purpose.empty());
        if (e.op != "all_reduce" || e.numel > 8) continue;
        ++small_sums[e.purpose];
        EXPECT_EQ(e.device, "cpu") << e.purpose;  // the rank's device (a GPU's under NCCL)
        EXPECT_EQ(e.dtype, "Double") << e.purpose;  // counts and sums exact to 2^53
      }
      EXPECT_EQ(small_sums[kStepSums], 3);
      EXPECT_EQ(small_sums[kEvaluation], 1);
      EXPECT_EQ(small_sums["run folder check"], 1);  // every rank took the same run folder
      // The epoch's sharded checkpoint (zero and pipelines by default): one flag, every rank's
      // pieces written, before rank 0 marks it complete.
      EXPECT_EQ(small_sums["checkpoint pieces written"], c.name == "ddp" ? 0 : 1);
      for (const auto& [purpose, n] : small_sums)
        EXPECT_TRUE(purpose == kStepSums || purpose == kEvaluation || purpose == "block costs" ||
                    purpose == "run folder check" || purpose == "checkpoint pieces written")
            << "an unexpected small sum: '" << purpose << "' x" << n;
    }
  }
}

}  // namespace
}  // namespace parallax
