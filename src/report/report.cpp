// parallax report: group the runs, draw the charts that have data, merge traces, write the page.
#include "report/report.h"

#include <filesystem>
#include <system_error>

#include "config/user_error.h"
#include "metrics/atomic_file.h"
#include "report/charts.h"
#include "report/gnuplot.h"
#include "report/html_report.h"
#include "report/report_data.h"
#include "report/trace_merge.h"

namespace parallax {
namespace {

namespace fs = std::filesystem;

void make_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw UserError("cannot create report folder " + dir + ": " +
                    (ec ? ec.message() : "not a folder") + "; pass -o a writable folder");
}

// A chart that has lost its data since the last report must not leave its old image behind.
void remove_stale(const std::string& charts_dir, const std::string& id) {
  std::error_code ec;
  for (const char* ext : {".png", ".svg", ".dat", ".gp"})
    fs::remove(charts_dir + "/" + id + ext, ec);
}

}  // namespace

void write_report(const std::vector<RunRecord>& runs, const std::string& out_dir,
                  const ReportOptions& options) {
  // Before anything is written: without gnuplot there is no report worth writing.
  const std::string gnuplot = find_gnuplot(options.gnuplot);
  const std::string charts_dir = out_dir + "/charts", traces_dir = out_dir + "/traces";
  make_dir(charts_dir);

  ReportData data = group_runs(runs);
  data.plan = options.plan;
  const std::vector<ChartSpec> charts = build_charts(data);
  for (const ChartSpec& c : charts) {
    if (c.drawn())
      render_chart(gnuplot, charts_dir, c.plot);
    else
      remove_stale(charts_dir, c.id);
  }

  HtmlPage page;
  page.title = options.title;
  page.source = options.source;
  for (const RunRecord& r : runs) {
    if (rank_trace_files(r.dir).empty()) continue;
    make_dir(traces_dir);
    const std::string file = safe_file_name(r.name) + ".json";
    if (merge_run_trace(r.dir, traces_dir + "/" + file)) page.traces[r.name] = "traces/" + file;
  }
  write_file_atomic(out_dir + "/report.html", render_html(page, runs, data, charts));
}

}  // namespace parallax
