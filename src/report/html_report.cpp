// HTML report: the page is built as one string; everything it loads lies beside it on disk.
#include "report/html_report.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "report/readings.h"

namespace parallax {
namespace {

constexpr const char* kStyle = R"css(
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; }
.source, .note, .missing, .files { color: #555; font-size: 0.9em; }
.verdict { font-size: 1.15em; background: #eef3fa; padding: 0.6em 0.9em; border-radius: 4px; }
.reading { font-size: 1.05em; font-weight: bold; }
ul.details { font-size: 1.0em; margin-top: -0.4em; }
section.chart { border-top: 1px solid #ddd; margin-top: 1.5em; }
img.chart { max-width: 100%; height: auto; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: 0.85em; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.5em; text-align: left;
         vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { background: #fdf0f0; }
.error { color: #a31515; }
#charts-status { color: #555; font-size: 0.9em; }
)css";

// Counts the charts that decoded (naturalWidth > 0) once the window has loaded, and every
// window.onerror / console.error call, into #charts-status so a headless browser can check them.
constexpr const char* kScript = R"js(
(function () {
  var errors = [];
  function status() { return document.getElementById('charts-status'); }
  // Counts go on #charts-status, messages into #script-errors (text, so any character is safe).
  function show() {
    var s = status(), list = document.getElementById('script-errors');
    if (s) s.setAttribute('data-errors', String(errors.length));
    if (list) { list.textContent = errors.join('\n'); list.hidden = errors.length === 0; }
  }
  function record(message) {
    errors.push(String(message));
    show();
  }
  window.onerror = function (message, source, line) {
    record(message + ' (' + source + ':' + line + ')');
  };
  var consoleError = console.error;
  console.error = function () {
    record(Array.prototype.join.call(arguments, ' '));
    return consoleError.apply(console, arguments);
  };
  window.addEventListener('load', function () {
    var charts = document.querySelectorAll('img.chart'), loaded = 0;
    for (var i = 0; i < charts.length; i++)
      if (charts[i].complete && charts[i].naturalWidth > 0) loaded++;
    var s = status();
    s.setAttribute('data-loaded', String(loaded));
    s.setAttribute('data-total', String(charts.length));
    show();
    s.textContent = loaded + ' of ' + charts.length + ' charts loaded' +
        (errors.length ? '; ' + errors.length + ' script errors' : '');
  });
})();
)js";

std::string cell_number(const nlohmann::json& summary, const char* key, int decimals) {
  const auto v = json_number(summary, {key});
  return v ? format_fixed(*v, decimals) : "";
}

std::string peak_memory(const RunRecord& run) {
  if (!run.summary.contains("ranks") || !run.summary["ranks"].is_array()) return "";
  double peak = 0;
  for (const auto& r : run.summary["ranks"])
    peak = std::max(peak, json_number(r, {"peak_memory_bytes"}).value_or(0));
  return peak > 0 ? format_fixed(peak / (1024.0 * 1024.0), 0) : "";
}

void chart_section(std::ostringstream& h, const ChartSpec& c) {
  h << "<section class=\"chart\" id=\"chart-" << c.id << "\">\n<h2>" << html_escape(c.title)
    << "</h2>\n";
  if (!c.drawn()) {
    h << "<p class=\"missing\">Not drawn: no run has this data. " << html_escape(c.missing)
      << "</p>\n</section>\n";
    return;
  }
  const std::string base = "charts/" + c.id;
  h << "<a href=\"" << base << ".svg\"><img class=\"chart\" src=\"" << base
    << ".png\" width=\"900\" height=\"500\" alt=\"" << html_escape(c.title) << "\"></a>\n"
    << "<p class=\"reading\">" << html_escape(c.reading) << "</p>\n";
  if (!c.details.empty()) {
    h << "<ul class=\"details\">\n";
    for (const std::string& d : c.details) h << "<li>" << html_escape(d) << "</li>\n";
    h << "</ul>\n";
  }
  if (!c.note.empty()) h << "<p class=\"note\">" << html_escape(c.note) << "</p>\n";
  h << "<p class=\"files\">SVG: <a href=\"" << base << ".svg\">" << c.id
    << ".svg</a>, data: <a href=\"" << base << ".dat\">" << c.id << ".dat</a>, script: <a href=\""
    << base << ".gp\">" << c.id << ".gp</a> (re-plot with <code>gnuplot " << c.id
    << ".gp</code> in charts/)</p>\n"
    << "</section>\n";
}

void run_table(std::ostringstream& h, const HtmlPage& page, const std::vector<RunRecord>& runs) {
  // A language model's figures are tokens/s and the validation loss (with its perplexity), a
  // classifier's images/s and test accuracy: a report of either kind, or of both, says which.
  const bool any_lm = std::any_of(runs.begin(), runs.end(), [](const RunRecord& r) {
    return r.summary.value("task", std::string()) == "language_model";
  });
  const bool all_lm = any_lm && std::all_of(runs.begin(), runs.end(), [](const RunRecord& r) {
    return r.summary.value("task", std::string()) == "language_model";
  });
  h << "<section id=\"runs\">\n<h2>Runs</h2>\n<table>\n<thead><tr><th>configuration</th>"
       "<th>run</th><th>strategy</th><th>world</th><th>"
    << (all_lm ? "tokens/s" : any_lm ? "img/s or tokens/s" : "img/s")
    << "</th><th>train time (s)</th><th>"
    << (all_lm ? "validation loss (perplexity)"
               : any_lm ? "test accuracy or validation loss" : "test accuracy")
    << "</th><th>MFU</th><th>peak memory (MiB)</th><th>status</th><th>trace</th>"
       "<th>notes</th></tr></thead>\n<tbody>\n";
  for (const RunRecord& r : runs) {
    const bool lm = r.summary.value("task", std::string()) == "language_model";
    const auto acc = json_number(r.summary, {"test_accuracy"});
    const auto loss = json_number(r.summary, {"language_model", "validation_loss"});
    const auto mfu = json_number(r.summary, {"flops", "mfu"});
    std::string metric = acc ? format_percent(*acc, 1) : "";
    if (lm) metric = loss ? format_sig(*loss) + " (" + format_sig(std::exp(*loss)) + ")" : "";
    h << "<tr class=\"" << html_escape(r.status) << "\"><td>"
      << html_escape(r.label.empty() ? r.name : r.label) << "</td><td>" << html_escape(r.name)
      << (r.repeat > 0 ? " (repeat " + std::to_string(r.repeat + 1) + ")" : "") << "</td><td>"
      << html_escape(strategy_name(r)) << "</td><td class=\"num\">" << world_size_of(r)
      << "</td><td class=\"num\">"
      << cell_number(r.summary, lm ? "tokens_per_sec" : "images_per_sec", 1)
      << "</td><td class=\"num\">" << cell_number(r.summary, "train_time_s", 1)
      << "</td><td class=\"num\">" << metric << "</td><td class=\"num\">"
      << (mfu ? format_percent(*mfu, 1) : "")
      << "</td><td class=\"num\">" << peak_memory(r) << "</td><td>" << html_escape(r.status)
      << "</td><td>";
    const auto trace = page.traces.find(r.name);
    if (trace != page.traces.end())
      h << "<a href=\"" << html_escape(trace->second) << "\">trace</a> (open in "
        << "<a href=\"https://ui.perfetto.dev\">ui.perfetto.dev</a>)";
    h << "</td><td>";
    if (!r.error.empty()) h << "<span class=\"error\">error: " << html_escape(r.error) << "</span>";
    if (!r.error.empty() && !r.note.empty()) h << "<br>";
    h << html_escape(r.note) << "</td></tr>\n";
  }
  h << "</tbody>\n</table>\n</section>\n";
}

// Which data the runs trained on ("Data: fashion-mnist from DIR (first ...): 16 runs"), and why
// a stand-in replaced a named dataset: a chart is read knowing what it was measured on.
std::string data_line(const std::vector<RunRecord>& runs) {
  std::vector<std::pair<std::string, int>> used;  // in order of first use
  std::vector<std::string> stand_ins;
  for (const RunRecord& r : runs) {
    const std::string name = json_string(r.summary, {"dataset", "name"});
    if (name.empty()) continue;
    const std::string source = json_string(r.summary, {"dataset", "source"});
    const std::string what = source.empty()               ? name
                             : source.rfind(name, 0) == 0 ? source  // "synthetic learnable ..."
                                                          : name + " from " + source;
    auto it =
        std::find_if(used.begin(), used.end(), [&](const auto& u) { return u.first == what; });
    if (it == used.end())
      used.emplace_back(what, 1);
    else
      ++it->second;
    if (!r.note.empty() && std::find(stand_ins.begin(), stand_ins.end(), r.note) == stand_ins.end())
      stand_ins.push_back(r.note);
  }
  if (used.empty()) return "";
  std::string line = "Data: ";
  for (size_t i = 0; i < used.size(); ++i)
    line += (i ? "; " : "") + used[i].first + " (" + std::to_string(used[i].second) +
            (used[i].second == 1 ? " run)" : " runs)");
  line += ".";
  for (const std::string& note : stand_ins) line += " Note: " + note + ".";
  return line;
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string safe_file_name(const std::string& name) {
  std::string out;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    out += ok ? c : '_';
  }
  if (out.empty() || out[0] == '.') out = "_" + out;  // never hidden, never "." or ".."
  return out;
}

std::string render_html(const HtmlPage& page, const std::vector<RunRecord>& runs,
                        const ReportData& data, const std::vector<ChartSpec>& charts) {
  const auto drawn =
      std::count_if(charts.begin(), charts.end(), [](const ChartSpec& c) { return c.drawn(); });
  int failed = 0;
  for (const RunRecord& r : runs) failed += r.status == "failed" ? 1 : 0;
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    << "<title>" << html_escape(page.title) << "</title>\n<style>" << kStyle << "</style>\n"
    << "<script>" << kScript << "</script>\n</head>\n<body>\n"
    << "<h1>" << html_escape(page.title) << "</h1>\n<p class=\"source\">" << runs.size()
    << " runs in " << data.groups.size() << " configurations"
    << (failed ? " (" + std::to_string(failed) + " failed)" : "")
    << (page.source.empty() ? "" : " from " + html_escape(page.source)) << ".</p>\n";
  const std::string data_used = data_line(runs);
  if (!data_used.empty())
    h << "<p class=\"source\" id=\"data\">" << html_escape(data_used) << "</p>\n";
  h << "<p class=\"verdict\">" << html_escape(read_verdict(data)) << "</p>\n"
    << "<p id=\"charts-status\" data-loaded=\"0\" data-total=\"" << drawn
    << "\" data-errors=\"0\">charts: counted once the page has loaded (needs JavaScript)</p>\n"
    << "<pre id=\"script-errors\" class=\"error\" hidden></pre>\n"
    << "<section id=\"chart-list\" data-charts=\"" << drawn << "\">\n<h2>Charts</h2>\n<ul>\n";
  for (const ChartSpec& c : charts)
    h << "<li><a href=\"#chart-" << c.id << "\">" << html_escape(c.title) << "</a>"
      << (c.drawn() ? "" : " (not drawn: no data)") << "</li>\n";
  h << "<li><a href=\"#runs\">Runs</a></li>\n</ul>\n</section>\n";
  for (const ChartSpec& c : charts) chart_section(h, c);
  run_table(h, page, runs);
  h << "</body>\n</html>\n";
  return h.str();
}

}  // namespace parallax
