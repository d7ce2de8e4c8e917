// Report tests: grouping, readings on the fixture, trace merge, and the written report's files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "metrics/pipeline_bubble.h"
#include "report/charts.h"
#include "report/gnuplot.h"
#include "report/html_report.h"
#include "report/readings.h"
#include "report/report.h"
#include "report/report_data.h"
#include "report/trace_merge.h"
#include "test_util.h"
#include "unit/report/fixture_runs.h"

namespace parallax {
namespace {

using testing::fixture_runs;
using testing::read_text;
using testing::TempDir;

constexpr const char* kChartIds[] = {"execution_time", "split_size",   "epoch_time",
                                     "time_to_target", "curves_epoch", "curves_time",
                                     "scaling",        "breakdown",    "memory"};

// Width and height from a PNG's IHDR chunk; {0, 0} when the file is not a PNG.
std::pair<uint32_t, uint32_t> png_size(const std::string& path) {
  const std::string bytes = read_text(path);
  static const std::string kSignature = "\x89PNG\r\n\x1a\n";
  if (bytes.size() < 24 || bytes.compare(0, 8, kSignature) != 0 || bytes.compare(12, 4, "IHDR"))
    return {0, 0};
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  return {be32(16), be32(20)};
}

TEST(ReportData, GroupsRepeatsByLabelWithMeanMinMax) {
  const auto runs = fixture_runs();
  const ReportData data = group_runs(runs);
  ASSERT_EQ(data.groups.size(), 9u);
  EXPECT_EQ(data.finished().size(), 8u);
  const ConfigGroup* ddp2 = data.find("ddp 2 ranks");
  ASSERT_NE(ddp2, nullptr);
  EXPECT_EQ(ddp2->strategy, "ddp");
  EXPECT_EQ(ddp2->world, 2);
  EXPECT_EQ(ddp2->finished.size(), 2u);
  EXPECT_EQ(ddp2->images_per_sec.n, 2);
  EXPECT_DOUBLE_EQ(ddp2->images_per_sec.mean, 200.0);
  EXPECT_DOUBLE_EQ(ddp2->images_per_sec.min, 196.0);
  EXPECT_DOUBLE_EQ(ddp2->images_per_sec.max, 204.0);
  EXPECT_NEAR(ddp2->images_per_sec.stddev, std::sqrt(32.0), 1e-12);
  EXPECT_DOUBLE_EQ(ddp2->train_time_s.min, 4800.0 / 204);
  EXPECT_DOUBLE_EQ(ddp2->train_time_s.max, 4800.0 / 196);
  EXPECT_DOUBLE_EQ(ddp2->train_time_s.mean, (4800.0 / 204 + 4800.0 / 196) / 2);
  // Per-step parts: totals over the 37 timed steps divided back.
  EXPECT_NEAR(ddp2->comm_per_step_s.mean, 0.12 * (120.0 / 204 + 120.0 / 196) / 2, 1e-12);
  EXPECT_EQ(data.find("zero-1 2 ranks")->strategy, "zero-1");

  const ConfigGroup* failed = data.find("ddp 4 ranks");
  ASSERT_NE(failed, nullptr);
  EXPECT_TRUE(failed->finished.empty());
  EXPECT_EQ(failed->unfinished.size(), 1u);
  EXPECT_EQ(failed->world, 4);
  EXPECT_FALSE(failed->train_time_s.present());
}

TEST(ReportData, PipelineShapeAndTheoreticalBubble) {
  const auto runs = fixture_runs();
  const ReportData data = group_runs(runs);
  const ConfigGroup* p20 = data.find("pipeline split-size 20");
  ASSERT_NE(p20, nullptr);
  EXPECT_EQ(*p20->micro_batch_size, 20);
  EXPECT_EQ(*p20->micro_batches, 6);
  EXPECT_EQ(*p20->stages, 2);
  EXPECT_EQ(p20->schedule, "gpipe");
  EXPECT_DOUBLE_EQ(p20->bubble_fraction_theory.mean, 1.0 / 7);
  EXPECT_DOUBLE_EQ(p20->bubble_fraction.mean, 0.22);
  const ConfigGroup* model = data.naive_model(*p20);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(*model->micro_batches, 1);
  EXPECT_EQ(*model->micro_batch_size, 120);
  EXPECT_DOUBLE_EQ(theoretical_bubble(StageCount(2), MicroBatchCount(1)), 0.5);
  EXPECT_DOUBLE_EQ(theoretical_bubble(StageCount(4), MicroBatchCount(12)), 3.0 / 15);
}

TEST(ReportData, BaselinesAndScalingEfficiency) {
  const auto runs = fixture_runs();
  const ReportData data = group_runs(runs);
  const ConfigGroup* single = data.find("single");
  ASSERT_NE(single, nullptr);
  EXPECT_EQ(data.single(*single)->label, "single");
  EXPECT_EQ(data.scaling_base("ddp", single->workload)->label, "ddp 1 rank");
  EXPECT_EQ(data.scaling_base("zero-1", single->workload)->label, "single");  // no 1-rank zero
  EXPECT_EQ(data.fastest_of("pipeline", 2)->label, "pipeline split-size 20");
  const auto points = scaling_points(data);
  ASSERT_EQ(points.size(), 8u);  // ddp, zero-1, model, pipeline: 1 and 2 ranks each
  EXPECT_EQ(points[0].strategy, "ddp");
  EXPECT_EQ(points[1].world, 2);
  EXPECT_DOUBLE_EQ(points[1].efficiency, 200.0 / (2 * 116.0));
  EXPECT_EQ(points[2].strategy, "zero-1");
  EXPECT_EQ(points[2].group->label, "single");  // its line starts at single
  EXPECT_DOUBLE_EQ(points[3].efficiency, 190.0 / (2 * 118.0));
}

TEST(ReportData, RankMemoryTakesPipelineActivations) {
  const auto runs = fixture_runs();
  const ReportData data = group_runs(runs);
  const auto p20 = rank_memory(*data.find("pipeline split-size 20"));
  ASSERT_EQ(p20.size(), 2u);
  EXPECT_EQ(p20[1].rank, 1);
  EXPECT_DOUBLE_EQ(p20[1].params, 88334376);
  EXPECT_DOUBLE_EQ(p20[0].activations, 159509152);
  const auto zero = rank_memory(*data.find("zero-1 2 ranks"));
  EXPECT_DOUBLE_EQ(zero[0].optimizer, 94114088 / 2.0);
  EXPECT_DOUBLE_EQ(zero[0].activations, 0);
}

TEST(Readings, FormatNumbers) {
  EXPECT_EQ(format_sig(40.6897), "40.7");
  EXPECT_EQ(format_sig(0.58824), "0.588");
  EXPECT_EQ(format_sig(1234.6), "1235");
  EXPECT_EQ(format_ratio(1.625), "1.6x");
  EXPECT_EQ(format_ratio(0.95), "0.95x");
  EXPECT_EQ(format_ratio(0.5), "0.50x");
  EXPECT_EQ(format_ratio(12.3), "12x");
  EXPECT_EQ(format_percent(0.2201), "22%");
  EXPECT_EQ(format_count(20.0), "20");
  EXPECT_EQ(format_count(3.5), "3.50");
  EXPECT_EQ(format_mib(94114088), "89.8 MiB");
}

TEST(Readings, SentencesForTheFixture) {
  const auto runs = fixture_runs();
  const ReportData data = group_runs(runs);
  EXPECT_EQ(read_execution_time(data),
            "ddp 2 ranks is the fastest configuration at 24.0 s, 1.05x faster than zero-1 2 "
            "ranks (25.3 s), beyond the 4.0% spread of their repeats; single takes 40.7 s, 1.7x "
            "longer; the slowest, model 2 ranks, takes 75.0 s, 3.1x longer; model 2 ranks idles "
            "52% of each step in its pipeline bubble.");
  EXPECT_EQ(read_split_size(data),
            "pipeline with split size 20 is 1.6x naive model parallel (104.0 vs 64.0 img/s), "
            "with a measured bubble of 22% against 14% in theory.");
  EXPECT_EQ(read_epoch_time(data),
            "mean epoch time ranges from 6.00 s (ddp 2 ranks) to 18.8 s (model 2 ranks), "
            "3.1x apart.");
  EXPECT_EQ(read_time_to_target(data),
            "ddp 2 ranks reaches 50% test accuracy first, in 18.0 s (3 epochs), 1.7x faster than "
            "single (30.5 s), beyond the 4.0% spread of their repeats.");
  EXPECT_EQ(read_curves_by_epoch(data),
            "after 4 epochs, test accuracy ranges from 57.0% (ddp 2 ranks) to 58.5% (ddp 1 rank) "
            "and train loss from 1.12 to 1.13: per epoch, the configurations are equal within "
            "the test set's ±4.3% (95% interval of a difference, 1000 images).");
  EXPECT_EQ(read_curves_by_time(data),
            "by 23.5 s of training, when ddp 2 ranks finishes, it has 57.0% test accuracy and "
            "single 44.0%.");
  EXPECT_EQ(read_scaling(data),
            "at 2 ranks ddp keeps 86% scaling efficiency (200.0 img/s vs 116.0 for ddp 1 rank), "
            "zero-1 81%, pipeline 44% and model 27%.");
  EXPECT_EQ(read_breakdown(data),
            "exposed communication takes 15% of a zero-1 2 ranks step (0.0947 s of 0.632 s) and "
            "the pipeline bubble 52% of a model 2 ranks step.");
  EXPECT_EQ(read_memory(data),
            "zero-1 trains at 0.95x ddp with 0.50x the optimizer state (44.9 MiB vs 89.8 MiB per "
            "rank).");
  EXPECT_EQ(read_verdict(data),
            "Fastest by training time: ddp 2 ranks at 24.0 s (200.0 img/s), 1.7x faster than "
            "single; first to 50% test accuracy: ddp 2 ranks (18.0 s).");
}

TEST(Readings, CountsConfigurationsThatMissTheirTarget) {
  auto runs = fixture_runs();
  for (auto& r : runs)
    if (r.label == "model 2 ranks") {
      r.summary["epochs_to_target"] = nullptr;
      r.summary["time_to_target_s"] = nullptr;
    }
  const ReportData data = group_runs(runs);
  EXPECT_EQ(read_time_to_target(data),
            "ddp 2 ranks reaches 50% test accuracy first, in 18.0 s (3 epochs), 1.7x faster than "
            "single (30.5 s), beyond the 4.0% spread of their repeats; 1 configuration misses its "
            "target.");
}

TEST(Readings, ExecutionTimeWarnsWhenRunsTrainedDifferentData) {
  auto runs = fixture_runs();
  for (auto& r : runs)
    if (r.label == "model 2 ranks") r.summary["steps"] = 20;
  const ReportData data = group_runs(runs);
  EXPECT_EQ(read_execution_time(data),
            "ddp 2 ranks is the fastest configuration at 24.0 s, 1.05x faster than zero-1 2 "
            "ranks (25.3 s), beyond the 4.0% spread of their repeats; single takes 40.7 s, 1.7x "
            "longer; the slowest, model 2 ranks, takes 75.0 s, 3.1x longer; model 2 ranks idles "
            "52% of each step in its pipeline bubble; ddp 2 ranks and model 2 ranks trained 4800 "
            "vs 2400 images, so compare their img/s.");
}

TEST(Readings, EmptyWhenTheRunsHoldNoData) {
  const std::vector<RunRecord> none;
  const ReportData empty = group_runs(none);
  EXPECT_EQ(read_execution_time(empty), "");
  EXPECT_EQ(read_split_size(empty), "");
  EXPECT_EQ(read_scaling(empty), "");
  EXPECT_EQ(read_memory(empty), "");
  EXPECT_EQ(read_verdict(empty), "No finished run to compare yet.");
  // A finished run whose summary has only nulls: grouped, but no figure is invented.
  RunRecord bare;
  bare.name = "bare";
  bare.status = "finished";
  bare.summary = {{"train_time_s", nullptr}, {"images_per_sec", nullptr}, {"ranks", nullptr}};
  const std::vector<RunRecord> runs{bare};
  const ReportData data = group_runs(runs);
  ASSERT_EQ(data.groups.size(), 1u);
  EXPECT_EQ(data.groups[0].label, "bare");
  EXPECT_FALSE(data.groups[0].train_time_s.present());
  for (const ChartSpec& c : build_charts(data)) EXPECT_FALSE(c.drawn()) << c.id;
}

TEST(Charts, ChartWithoutDataSaysWhichRunsWouldFillIt) {
  auto runs = fixture_runs();
  runs.erase(std::remove_if(runs.begin(), runs.end(),
                            [](const RunRecord& r) {
                              return r.config["strategy"] == "pipeline" ||
                                     r.config["strategy"] == "model";
                            }),
             runs.end());
  const ReportData data = group_runs(runs);
  const ChartSpec split = split_size_chart(data);
  EXPECT_FALSE(split.drawn());
  EXPECT_NE(split.missing.find("--split-size"), std::string::npos);
  EXPECT_TRUE(execution_time_chart(data).drawn());
  EXPECT_TRUE(scaling_chart(data).drawn());
}

TEST(TraceMerge, ShiftsRanksOntoTheEarliestOrigin) {
  TempDir dir;
  testing::write_fixture_traces(dir.path());
  ASSERT_EQ(rank_trace_files(dir.path()).size(), 2u);
  const std::string out = dir / "merged.json";
  ASSERT_TRUE(merge_run_trace(dir.path(), out));
  const auto merged = nlohmann::json::parse(read_text(out));
  EXPECT_EQ(merged["displayTimeUnit"], "ms");
  EXPECT_TRUE(merged["otherData"]["aligned"].get<bool>());
  std::map<int, std::vector<double>> ts;
  for (const auto& e : merged["traceEvents"])
    if (e["ph"] == "X") ts[e["pid"].get<int>()].push_back(e["ts"].get<double>());
  ASSERT_EQ(ts.size(), 2u);
  EXPECT_EQ(ts[0], (std::vector<double>{1000.0, 60000.0}));  // earliest origin: unshifted
  EXPECT_EQ(ts[1], (std::vector<double>{1250.0, 60250.0}));  // started 250 us later
}

TEST(TraceMerge, LeavesTimesAloneWithoutSharedClock) {
  TempDir dir;
  testing::write_fixture_traces(dir.path(), /*with_origins=*/false);
  ASSERT_TRUE(merge_run_trace(dir.path(), dir / "m.json"));
  const auto m = nlohmann::json::parse(read_text(dir / "m.json"));
  EXPECT_FALSE(m["otherData"]["aligned"].get<bool>());
  EXPECT_NE(m["otherData"]["not_aligned_because"].get<std::string>().find("steady_origin_us"),
            std::string::npos);
  // Different hosts: steady clocks are per machine, so no shift either.
  nlohmann::json a = {{"traceEvents", {{{"ph", "X"}, {"pid", 0}, {"ts", 5.0}}}},
                      {"otherData", {{"steady_origin_us", 10.0}, {"host", "a"}}}};
  nlohmann::json b = {{"traceEvents", {{{"ph", "X"}, {"pid", 1}, {"ts", 5.0}}}},
                      {"otherData", {{"steady_origin_us", 20.0}, {"host", "b"}}}};
  const auto two_hosts = merge_rank_traces({a, b});
  EXPECT_FALSE(two_hosts["otherData"]["aligned"].get<bool>());
  EXPECT_EQ(two_hosts["traceEvents"][1]["ts"], 5.0);
  EXPECT_FALSE(merge_run_trace(dir / "absent", dir / "none.json"));
}

TEST(Gnuplot, MissingGnuplotIsAUserError) {
  testing::expect_user_error([] { find_gnuplot("/nonexistent/gnuplot"); },
                             {"/nonexistent/gnuplot", "apt-get install gnuplot-nox"});
  TempDir empty;
  const std::string saved = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", empty.path().c_str(), 1);
  testing::expect_user_error([] { find_gnuplot(); },
                             {"gnuplot not found on PATH", "apt-get install gnuplot-nox"});
  ::setenv("PATH", saved.c_str(), 1);
}

TEST(Gnuplot, FailingScriptThrowsWithItsPath) {
  if (find_on_path("gnuplot").empty())
    GTEST_SKIP() << "gnuplot not installed (apt-get install gnuplot-nox)";
  TempDir dir;
  GnuplotChart bad{"bad", "1 2\n", "plot 'bad.dat' using 1:2 with nonsense\n"};
  try {
    render_chart(find_gnuplot(), dir.path(), bad);
    ADD_FAILURE() << "no error for a broken script";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.gp"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.png"));
}

TEST(Html, EscapesLabelsAndNames) {
  EXPECT_EQ(html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
  EXPECT_EQ(safe_file_name("pipe line/../x"), "pipe_line_.._x");
  EXPECT_EQ(safe_file_name(".."), "_..");
}

TEST(WriteReport, WritesPageChartsAndTraces) {
  if (find_on_path("gnuplot").empty())
    GTEST_SKIP() << "gnuplot not installed (apt-get install gnuplot-nox)";
  TempDir dir;
  auto runs = fixture_runs();
  const std::string run_dir = dir / "runs/pipe20-r0";
  testing::write_fixture_traces(run_dir);
  for (auto& r : runs)
    if (r.name == "pipe20-r0") r.dir = run_dir;
  const std::string out = dir / "report";
  write_report(runs, out, {"fixture report", "runs/", "", {}});

  const std::string html = read_text(out + "/report.html");
  ASSERT_FALSE(html.empty());
  EXPECT_NE(html.find("data-charts=\"9\""), std::string::npos);
  EXPECT_NE(html.find("<p id=\"charts-status\""), std::string::npos);
  for (const char* id : kChartIds) {
    SCOPED_TRACE(id);
    const std::string base = out + "/charts/" + id;
    EXPECT_NE(html.find("<img class=\"chart\" src=\"charts/" + std::string(id) + ".png\""),
              std::string::npos);
    EXPECT_NE(html.find("href=\"charts/" + std::string(id) + ".svg\""), std::string::npos);
    const auto [w, h] = png_size(base + ".png");
    EXPECT_EQ(w, 900u);
    EXPECT_EQ(h, 500u);
    const std::string svg = read_text(base + ".svg");
    EXPECT_TRUE(svg.rfind("<?xml", 0) == 0 || svg.rfind("<svg", 0) == 0);
    EXPECT_NE(svg.find("</svg>"), std::string::npos);
    EXPECT_TRUE(std::filesystem::exists(base + ".dat"));
    EXPECT_NE(read_text(base + ".gp").find(std::string(id) + ".dat"), std::string::npos);
  }
  // No temporary files left behind by the atomic writes.
  for (const auto& e : std::filesystem::directory_iterator(out + "/charts"))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  // Readings and the failed run's error are on the page; the verdict heads it.
  EXPECT_NE(html.find("pipeline with split size 20 is 1.6x naive model parallel"),
            std::string::npos);
  EXPECT_NE(html.find("error: rank 2 failed first: Gloo connection closed by peer"),
            std::string::npos);
  EXPECT_NE(html.find("cifar10 absent: synthetic stand-in"), std::string::npos);
  EXPECT_NE(html.find("Fastest by training time: ddp 2 ranks"), std::string::npos);
  // Nothing is fetched from the network.
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(std::regex_search(html, std::regex("src=\"(https?:)?//")), false);

  // The merged trace is linked from the run table and holds both ranks, aligned.
  EXPECT_NE(html.find("href=\"traces/pipe20-r0.json\""), std::string::npos);
  const auto trace = nlohmann::json::parse(read_text(out + "/traces/pipe20-r0.json"));
  std::set<int> pids;
  for (const auto& e : trace["traceEvents"]) pids.insert(e["pid"].get<int>());
  EXPECT_EQ(pids, (std::set<int>{0, 1}));
  bool shifted = false;
  for (const auto& e : trace["traceEvents"])
    shifted = shifted || (e["pid"] == 1 && e.contains("ts") && e["ts"] == 1250.0);
  EXPECT_TRUE(shifted);
}

TEST(WriteReport, OmitsChartsWithoutDataAndRemovesTheirOldFiles) {
  if (find_on_path("gnuplot").empty())
    GTEST_SKIP() << "gnuplot not installed (apt-get install gnuplot-nox)";
  TempDir dir;
  const std::string out = dir / "report";
  write_report(fixture_runs(), out);
  ASSERT_TRUE(std::filesystem::exists(out + "/charts/split_size.png"));
  auto runs = fixture_runs();
  runs.erase(std::remove_if(runs.begin(), runs.end(),
                            [](const RunRecord& r) { return r.config["strategy"] == "pipeline"; }),
             runs.end());
  write_report(runs, out);
  const std::string html = read_text(out + "/report.html");
  EXPECT_EQ(html.find("charts/split_size.png"), std::string::npos);
  EXPECT_NE(html.find("Not drawn: no run has this data. Pipeline runs at several --split-size"),
            std::string::npos);
  EXPECT_NE(html.find("data-charts=\"8\""), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(out + "/charts/split_size.png"));
  EXPECT_FALSE(std::filesystem::exists(out + "/traces"));  // no run had a trace
}

}  // namespace
}  // namespace parallax
