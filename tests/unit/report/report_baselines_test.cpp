// Report baselines: a ratio only compares runs of one workload (model, data, image size, batch).
#include <gtest/gtest.h>

#include "report/readings.h"
#include "report/report_data.h"
#include "unit/report/fixture_runs.h"

namespace parallax {
namespace {

using testing::fixture_runs;

TEST(ReportData, BaselinesNeverCrossWorkloads) {
  // A suite may time 128x128 and 32x32 runs side by side: naive model parallel on other images
  // is no baseline for the pipeline, and single on another batch none for ddp.
  auto runs = fixture_runs();
  for (auto& r : runs)
    if (r.label == "model 2 ranks" || r.label == "single") r.config["image_size"] = 128;
  const ReportData data = group_runs(runs);
  const ConfigGroup* p20 = data.find("pipeline split-size 20");
  ASSERT_NE(p20, nullptr);
  EXPECT_EQ(data.naive_model(*p20), nullptr);
  EXPECT_EQ(data.single(*p20), nullptr);
  EXPECT_EQ(read_split_size(data).find("naive model"), std::string::npos) << read_split_size(data);
  EXPECT_EQ(data.sweep_workload(), p20->workload);
  for (const ScalingPoint& p : scaling_points(data))
    EXPECT_EQ(p.base->workload, p.group->workload) << p.strategy << " " << p.world;
}

}  // namespace
}  // namespace parallax
