// Readings: the one sentence under each chart, computed from the grouped runs (pure functions).
// A gap is called a difference only beyond noise (report/readings_noise.h), and a cause is named
// only where a known mechanism differs between the runs (report/readings_causes.h).
#pragma once
#include <string>
#include <vector>

#include "report/report_data.h"

namespace parallax {

// Number formats shared by the readings and the run table.
std::string format_sig(double value, int digits = 3);           // 3 significant digits: 40.7, 0.588
std::string format_fixed(double value, int decimals);           // 104.0
std::string format_ratio(double ratio);                         // 2 significant digits: 1.6x, 0.95x
std::string format_percent(double fraction, int decimals = 0);  // 0.22 -> 22%
std::string format_mib(double bytes);                           // 89.8 MiB
std::string format_count(double value);  // whole numbers as integers ("20"), others as format_sig
std::string format_seconds(double s);    // 3 significant digits and the unit: "24.6 s"
std::string format_img_s(double value);  // one decimal, no unit: "198.0"

// Each returns "" when the runs hold no data for the chart (the chart is then not drawn).
std::string read_execution_time(const ReportData& data);
std::string read_split_size(const ReportData& data);
std::string read_schedules(const ReportData& data);
std::string read_epoch_time(const ReportData& data);
std::string read_time_to_target(const ReportData& data);
std::string read_curves_by_epoch(const ReportData& data);
std::string read_curves_by_time(const ReportData& data);
std::string read_scaling(const ReportData& data);
std::string read_breakdown(const ReportData& data);
std::string read_memory(const ReportData& data);
// The breakdown chart's reading per strategy (its fastest configuration at its largest world):
// how much of the collectives' flight backward hid and which bucket was waited for (ddp, zero),
// the bubble against its theory (pipelines), compute's share (single). Empty without data.
std::vector<std::string> read_step_by_strategy(const ReportData& data);

// The page's headline: the fastest configuration by training time, the first chart's measure
// (every configuration equal to it within noise named too), the img/s leader where that differs,
// and the first to the target accuracy.
std::string read_verdict(const ReportData& data);

}  // namespace parallax
