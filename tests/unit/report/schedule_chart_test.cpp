// The schedules chart: one group of bars per schedule at the micro-batch count most schedules ran
// at, from each run's measured, closed-form and profiled-time bubbles and its larger rank's peak
// activations; its reading names the schedule that idles least against 1F1B.
#include <gtest/gtest.h>

#include "report/charts.h"
#include "report/readings.h"
#include "report/report_data.h"

namespace parallax {
namespace {

RunRecord schedule_run(const std::string& schedule, int micro, double ips, double bubble,
                       double theory, double profiled, double activation_mib) {
  RunRecord r;
  r.name = schedule + "-m" + std::to_string(micro);
  r.label = "pipeline " + schedule + " m" + std::to_string(micro);
  r.status = "finished";
  r.config = {{"strategy", "pipeline"}, {"nproc", 2},
              {"batch_size", 120},      {"model", "resnet50"},
              {"dataset", "synthetic"}, {"image_size", 32},
              {"micro_batches", micro}, {"pipeline_schedule", schedule}};
  const double act = activation_mib * 1048576;
  r.summary = {
      {"strategy", "pipeline"},
      {"world_size", 2},
      {"images_per_sec", ips},
      {"train_time_s", 120.0 / ips},
      {"bubble_fraction", bubble},
      {"strategy_details",
       {{"schedule", schedule},
        {"stages", 2},
        {"micro_batches", micro},
        {"micro_batch_size", 120 / micro},
        {"bubble_fraction", bubble},
        {"bubble_fraction_theory", theory},
        {"bubble_fraction_profiled", profiled},
        {"ranks", {{{"peak_activation_bytes", act}}, {{"peak_activation_bytes", act / 3}}}}}}};
  return r;
}

TEST(SchedulesChart, BarsPerScheduleAtTheCommonMicroBatchCount) {
  const std::vector<RunRecord> runs = {
      schedule_run("1f1b", 8, 240, 0.12, 1.0 / 9, 0.115, 60),
      schedule_run("zb-h1", 8, 250, 0.06, 1.0 / 25, 0.058, 60),
      schedule_run("zb-h2", 8, 255, 0.03, 1.0 / 25, 0.033, 87),
      schedule_run("1f1b", 4, 200, 0.21, 0.2, 0.2, 40),
  };
  const ReportData data = group_runs(runs);
  const ChartSpec c = schedules_chart(data);
  ASSERT_TRUE(c.drawn()) << c.missing;
  // M = 8: three schedules in schedule order; M = 4 (one schedule) is left out.
  EXPECT_NE(c.plot.data.find("\"1f1b\" 12 11.1111 11.5 60"), std::string::npos) << c.plot.data;
  EXPECT_NE(c.plot.data.find("\"zb-h2\" 3 4 3.3 87"), std::string::npos) << c.plot.data;
  EXPECT_LT(c.plot.data.find("1f1b"), c.plot.data.find("zb-h1"));
  EXPECT_EQ(c.plot.data.find(" 40\n"), std::string::npos) << c.plot.data;
  EXPECT_EQ(read_schedules(data),
            "at M = 8, zb-h2 idles least: 3.00% of its step (3.30% from its profiled times), "
            "0.25x 1f1b's 12.0%, holding 1.4x its peak activations.");
  EXPECT_NE(c.note.find("M = 8"), std::string::npos);
}

TEST(SchedulesChart, OneScheduleLeavesItUndrawn) {
  const ReportData data = group_runs({schedule_run("1f1b", 8, 240, 0.12, 1.0 / 9, 0.115, 60)});
  const ChartSpec c = schedules_chart(data);
  EXPECT_FALSE(c.drawn());
  EXPECT_NE(c.missing.find("two or more --pipeline-schedule"), std::string::npos);
  EXPECT_EQ(read_schedules(data), "");
}

}  // namespace
}  // namespace parallax
