// HTML report: one self-contained page that opens from disk with no server and no network.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "metrics/run_record.h"
#include "report/charts.h"
#include "report/report_data.h"

namespace parallax {

std::string html_escape(const std::string& text);

// A run name as a file name: characters other than [A-Za-z0-9._-] become '_'.
std::string safe_file_name(const std::string& name);

struct HtmlPage {
  std::string title;
  std::string source;  // where the runs came from, shown under the title ("" to omit)
  // run name -> merged trace path relative to the page (runs without a trace are absent)
  std::map<std::string, std::string> traces;
};

// The page: verdict, chart list (data-charts = charts drawn), one section per chart (image
// linking to its SVG, reading, derivation note; or the line saying which runs would fill it),
// then every run in a table. The element #charts-status receives data-loaded / data-total /
// data-errors from the inline script once the window has loaded. Pure.
std::string render_html(const HtmlPage& page, const std::vector<RunRecord>& runs,
                        const ReportData& data, const std::vector<ChartSpec>& charts);

}  // namespace parallax
