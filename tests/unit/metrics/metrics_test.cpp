// Metrics helpers: percentiles, atomic writes, CSV round trips.
#include <gtest/gtest.h>

#include <filesystem>

#include "metrics/atomic_file.h"
#include "metrics/percentiles.h"
#include "metrics/run_files.h"
#include "test_util.h"

namespace parallax {
namespace {

TEST(Percentiles, InterpolateLikeNumpy) {
  const Percentiles p = percentiles({5, 1, 4, 2, 3});
  EXPECT_DOUBLE_EQ(p.median, 3);
  EXPECT_DOUBLE_EQ(p.p10, 1.4);
  EXPECT_DOUBLE_EQ(p.p90, 4.6);
  EXPECT_DOUBLE_EQ(percentile({}, 0.5), 0);
}

TEST(AtomicFile, ReplacesWholeAndLeavesNoTempOnFailure) {
  testing::TempDir dir;
  const std::string path = dir / "a.txt";
  write_file_atomic(path, "first");
  write_file_atomic(path, "second");
  EXPECT_EQ(testing::read_text(path), "second");
  EXPECT_THROW(replace_file_atomic(path,
                                   [](const std::string& tmp) {
                                     write_file_atomic(tmp, "partial");
                                     throw std::runtime_error("writer died");
                                   }),
               std::runtime_error);
  EXPECT_EQ(testing::read_text(path), "second");
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(RunFiles, CsvHasHeaderAndFullPrecisionRows) {
  StepRecord r;
  r.step = 3;
  r.loss = 1.234567891;
  const std::string csv = steps_csv({r});
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "step,epoch,images,correct,loss,lr,step_s,data_s,compute_s,comm_s,loss_scale,skipped,"
            "comm_busy_s,idle_s");
  EXPECT_NE(csv.find("3,0,0,0,1.23456789,"), std::string::npos) << csv;
}

}  // namespace
}  // namespace parallax
