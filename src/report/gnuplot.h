// gnuplot: find the program, write a chart's data and script, and run it to make PNG and SVG.
#pragma once
#include <string>

namespace parallax {

// A chart as gnuplot sees it: <name>.dat holds the data (blocks separated by two blank lines,
// chosen with `index`), body the commands that plot it (they may use multiplot).
struct GnuplotChart {
  std::string name;
  std::string data;
  std::string body;
};

// The full path of an executable found on PATH; "" if none.
std::string find_on_path(const std::string& program);

// The gnuplot to run: `configured` when given, else the one on PATH. UserError if none is found.
std::string find_gnuplot(const std::string& configured = "");

// The script written to <name>.gp: one terminal setup per format around the chart's body, so
// `gnuplot <name>.gp` in the charts folder re-plots <name>.png and <name>.svg. Pure.
std::string gnuplot_script(const GnuplotChart& chart);

// A gnuplot string literal (double-quoted, escaped) for titles and labels in a script.
std::string gnuplot_string(const std::string& text);
// A quoted field for a data file; gnuplot data files cannot escape quotes, so they are replaced.
std::string gnuplot_field(const std::string& text);

// Writes dir/<name>.dat and dir/<name>.gp, runs gnuplot in dir and renames its outputs onto
// dir/<name>.png and dir/<name>.svg (so readers never see half-written images). Throws
// std::runtime_error with gnuplot's own message when it fails.
void render_chart(const std::string& gnuplot, const std::string& dir, const GnuplotChart& chart);

}  // namespace parallax
