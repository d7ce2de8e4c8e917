// Chart parts: data-file numbers and the bar chart with min-max whiskers several charts share.
#include "report/chart_parts.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "report/gnuplot.h"

namespace parallax {

std::string num(double v) {
  if (!std::isfinite(v)) return "NaN";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string bar_chart_body(const std::string& name, const std::string& title,
                           const std::string& ylabel, size_t bars) {
  std::ostringstream b;
  b << "set title " << gnuplot_string(title) << "\n"
    << "set ylabel " << gnuplot_string(ylabel) << "\n"
    << "set yrange [0:*]\n"
    << "set offsets 0, 0, graph 0.08, 0\n"  // room for the value labels above the bars
    << "set xrange [-0.6:" << num(bars - 0.4) << "]\n"
    << "set xtics rotate by 25 right\n"
    << "set boxwidth 0.6\n"
    << "set style fill solid 0.8 border -1\n"
    << "set key above horizontal\n"
    << "plot '" << name
    << ".dat' using 0:2:xtic(1) with boxes lt 1 title \"mean over repeats\", \\\n"
    // Candlesticks rather than yerrorbars: the latter leave a gap around a (hidden) point.
    << "     '' using 0:2:3:4:2 with candlesticks whiskerbars 0.5 lc rgb \"black\" fs empty "
       "title \"min to max\", \\\n"
    << "     '' using 0:4:5 with labels offset 0,0.8 font \",9\" notitle\n";
  return b.str();
}

std::string bar_chart_data(const std::vector<BarRow>& rows) {
  std::ostringstream d;
  d << "# label mean min max value_label\n";
  for (const BarRow& r : rows)
    d << gnuplot_field(r.label) << " " << num(r.stat.mean) << " " << num(r.stat.min) << " "
      << num(r.stat.max) << " " << gnuplot_field(r.top) << "\n";
  return d.str();
}

ChartSpec missing_chart(const std::string& id, const std::string& title,
                        const std::string& missing) {
  ChartSpec c;
  c.id = id;
  c.title = title;
  c.missing = missing;
  c.plot.name = id;
  return c;
}

ChartSpec bar_chart(const std::string& id, const std::string& title, const std::string& ylabel,
                    const std::vector<BarRow>& rows, const std::string& missing,
                    const std::string& reading, const std::string& note) {
  if (rows.empty()) return missing_chart(id, title, missing);
  ChartSpec c = missing_chart(id, title, "");
  c.reading = reading;
  c.note = note;
  c.plot.data = bar_chart_data(rows);
  c.plot.body = bar_chart_body(id, title, ylabel, rows.size());
  return c;
}

}  // namespace parallax
