// Browser test: headless Chromium opens the fixture report from disk; every chart loads, no errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>

#include "report/gnuplot.h"
#include "report/report.h"
#include "test_util.h"
#include "unit/report/fixture_runs.h"

namespace parallax {
namespace {

using testing::read_text;
using testing::run_command;
using testing::TempDir;

std::string find_chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"})
    if (std::string path = find_on_path(name); !path.empty()) return path;
  return "";
}

// Width of a PNG from its IHDR chunk; 0 when the file is not a PNG.
uint32_t png_width(const std::string& path) {
  const std::string bytes = read_text(path);
  if (bytes.size() < 24 || bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return 0;
  uint32_t v = 0;
  for (size_t i = 16; i < 20; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return v;
}

struct ChartsStatus {
  bool found = false;
  int loaded = -1, total = -1, errors = -1;
  std::string text;
};

int attribute(const std::string& attrs, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(attrs, m, std::regex(name + "=\"(\\d+)\""))) return -1;
  return std::stoi(m[1]);
}

ChartsStatus charts_status(const std::string& dom) {
  ChartsStatus s;
  std::smatch m;
  if (!std::regex_search(dom, m, std::regex("<p id=\"charts-status\"([^>]*)>([^<]*)<"))) return s;
  s.found = true;
  s.loaded = attribute(m[1], "data-loaded");
  s.total = attribute(m[1], "data-total");
  s.errors = attribute(m[1], "data-errors");
  s.text = m[2];
  return s;
}

// Chromium 156 logs every console message as `INFO:CONSOLE:<line>] "<text>", source: ...`,
// whatever its level, so errors are told apart by their text.
std::vector<std::string> console_errors(const std::string& log) {
  static const std::regex kBad(
      "error|uncaught|not allowed to load local resource|failed to load resource",
      std::regex::icase);
  std::vector<std::string> bad;
  std::istringstream lines(log);
  std::string line;
  while (std::getline(lines, line))
    if (line.find("CONSOLE") != std::string::npos && std::regex_search(line, kBad))
      bad.push_back(line);
  return bad;
}

class Chromium {
 public:
  Chromium(std::string program, const TempDir& dir) : program_(std::move(program)) {
    // A profile of its own: no state shared with other runs, nothing left in $HOME.
    prefix_ = (testing::run_command("command -v timeout").exit_code == 0 ? "timeout 60 " : "") +
              program_ + " --headless --no-sandbox --disable-gpu --hide-scrollbars" +
              " --no-first-run --user-data-dir=" + dir / "chromium-profile" +
              " --virtual-time-budget=5000";
  }
  testing::CommandResult screenshot(const std::string& url, const std::string& png) const {
    return run_command(prefix_ + " --screenshot=" + png + " --window-size=1280,4000 " + url);
  }
  // The DOM after load goes to dom_path, Chromium's log (console messages included) to log_path.
  testing::CommandResult dump_dom(const std::string& url, const std::string& dom_path,
                                  const std::string& log_path) const {
    return run_command("( " + prefix_ + " --enable-logging=stderr --v=0 --dump-dom " + url + " > " +
                       dom_path + " 2> " + log_path + " )");
  }

 private:
  std::string program_, prefix_;
};

TEST(ReportBrowser, EveryChartLoadsWithoutConsoleErrors) {
  const std::string chromium = find_chromium();
  if (chromium.empty())
    GTEST_SKIP() << "chromium not installed (apt-get install chromium); the report's browser "
                    "check is skipped";
  TempDir dir;
  auto runs = testing::fixture_runs();
  testing::write_fixture_traces(dir / "runs/pipe20-r0");
  for (auto& r : runs)
    if (r.name == "pipe20-r0") r.dir = dir / "runs/pipe20-r0";
  const std::string out = dir / "report";
  write_report(runs, out, {"browser test report", "fixture", "", {}});
  const std::string html = read_text(out + "/report.html");
  int charts = 0;
  for (size_t at = html.find("<img class=\"chart\""); at != std::string::npos;
       at = html.find("<img class=\"chart\"", at + 1))
    ++charts;
  ASSERT_EQ(charts, 9);
  ASSERT_NE(html.find("data-charts=\"9\""), std::string::npos);
  const std::string url = "file://" + out + "/report.html";
  const Chromium browser(chromium, dir);

  const std::string shot = dir / "screenshot.png";
  const auto s = browser.screenshot(url, shot);
  ASSERT_EQ(s.exit_code, 0) << s.output;
  ASSERT_TRUE(std::filesystem::exists(shot)) << s.output;
  EXPECT_EQ(png_width(shot), 1280u);

  const auto d = browser.dump_dom(url, dir / "dom.html", dir / "chromium.log");
  const std::string log = read_text(dir / "chromium.log");
  ASSERT_EQ(d.exit_code, 0) << d.output << log;
  const ChartsStatus status = charts_status(read_text(dir / "dom.html"));
  ASSERT_TRUE(status.found) << "no #charts-status in the DOM Chromium dumped";
  EXPECT_EQ(status.total, charts) << status.text;
  EXPECT_EQ(status.loaded, charts) << status.text;
  EXPECT_EQ(status.errors, 0) << status.text;
  EXPECT_EQ(status.text, "9 of 9 charts loaded");
  for (const std::string& line : console_errors(log)) ADD_FAILURE() << "console: " << line;

  // The check is not vacuous: a chart whose image is gone is not counted as loaded.
  std::filesystem::remove(out + "/charts/memory.png");
  const auto again = browser.dump_dom(url, dir / "dom2.html", dir / "chromium2.log");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  const ChartsStatus broken = charts_status(read_text(dir / "dom2.html"));
  EXPECT_EQ(broken.loaded, charts - 1);
  EXPECT_EQ(broken.total, charts);
}

}  // namespace
}  // namespace parallax
