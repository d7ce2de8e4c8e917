// Suite points -> runs: grids crossed per strategy, exclusions, named datasets, labels and args.
#include "suite/suite_parser.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace parallax::suite_detail {
namespace {

std::string underscored(std::string s) {
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

// A predicate for the axis of that name.
auto axis_named(const std::string& n) {
  return [n](const Axis& a) { return a.name == n; };
}

// The odometer's next position, the last axis fastest; false once every position was visited.
bool advance_odometer(std::vector<size_t>& pos, const std::vector<Axis>& axes) {
  for (size_t i = axes.size(); i-- > 0;) {
    if (++pos[i] < axes[i].values.size()) return true;
    pos[i] = 0;
  }
  return false;
}

// The grid's axes for one strategy: the grid with its strategy fixed (where the grid has one),
// then its override's axes over them; run_line becomes the override's line where there is one.
std::vector<Axis> axes_for_strategy(const std::vector<Axis>& grid, const Value& s,
                                    bool strategy_in_grid, const StrategyOverrides& overrides,
                                    int& run_line) {
  std::vector<Axis> mine = grid;
  if (strategy_in_grid)
    *std::find_if(mine.begin(), mine.end(), axis_named("strategy")) = Axis{"strategy", {s}, {0}};
  const auto found = overrides.find(s.text);
  if (found == overrides.end()) return mine;
  run_line = found->second.second;
  for (const Axis& o : found->second.first) {
    auto it = std::find_if(mine.begin(), mine.end(), axis_named(o.name));
    if (it != mine.end())
      *it = o;
    else
      mine.push_back(o);
  }
  return mine;
}

}  // namespace

// A named dataset's options (or its stand-in's), which win over the run's other keys.
void SuiteParser::use_dataset(Point& p) {
  const Value* v = find(p.given, "dataset");
  if (!v || !datasets_.count(v->text)) return;
  const NamedDataset& d = datasets_.at(v->text);
  const Opts* opts = &d.options;
  if (!d.requires_path.empty()) {
    auto [it, fresh] = present_.emplace(d.requires_path, false);
    if (fresh)
      it->second = checks_.path_exists ? checks_.path_exists(d.requires_path)
                                       : std::filesystem::exists(d.requires_path);
    if (!it->second && !d.has_stand_in)
      fail(d.path_line, "dataset '" + v->text + "' needs " + d.requires_path +
                            ", which is absent; put the dataset there or give it a stand_in");
    if (!it->second) opts = &d.stand_in, p.note = d.note;
  }
  for (const Opt& o : *opts) {
    set(p.options, o);
    if (o.line > 0) p.value_lines.emplace_back(o.name, o.line);  // the dataset's value wins
  }
}

// One grid (the suite's or a group's) crossed, per strategy with its override, into points_.
void SuiteParser::expand(const std::map<std::string, Node>& f, const std::string& group,
                         const Opts& base, const std::vector<size_t>& excludes, int group_line,
                         int repeats) {
  const Node grid_node = at(f, "grid"), overrides_node = at(f, "overrides");
  const auto grid = grid_node.IsDefined() ? axes(grid_node, "grid") : std::vector<Axis>{};
  const auto in_grid = std::find_if(grid.begin(), grid.end(), axis_named("strategy"));
  const bool strategy_in_grid = in_grid != grid.end();
  Axis strategies = strategy_in_grid ? *in_grid : Axis{"strategy", {}, {}};
  if (!strategy_in_grid) {
    const Value* s = find(base, "strategy");
    strategies.values.push_back(s ? *s : Value{"single"});  // train's default, said out loud
    strategies.lines.push_back(grid_node.IsDefined() ? line(grid_node) : group_line);
  }
  for (const Axis& a : grid) key_order_.push_back(a.name);
  StrategyOverrides overrides;
  if (overrides_node.IsDefined()) overrides = read_overrides(overrides_node, strategies);
  for (size_t si = 0; si < strategies.values.size(); ++si) {
    const Value& s = strategies.values[si];
    int run_line = strategies.lines[si];
    const std::vector<Axis> mine =
        axes_for_strategy(grid, s, strategy_in_grid, overrides, run_line);
    Point first{group, "", "", base, {}, run_line, repeats, {}, {}};
    // A default's value is named at its own line; the grid's and overrides' come after and win.
    for (const Opt& o : base)
      if (o.line > 0) first.value_lines.emplace_back(o.name, o.line);
    if (!strategy_in_grid) set(first.given, {"strategy", s});
    add_grid_points(mine, first, excludes);
  }
}

// Each strategy's override: its axes and the line of its key.
StrategyOverrides SuiteParser::read_overrides(const Node& node, const Axis& strategies) {
  StrategyOverrides overrides;
  for (const auto& [key, n] : entries(node, "overrides")) {
    const std::string s = key.Scalar();
    const auto& all = strategies.values;
    if (std::find(all.begin(), all.end(), Value{s}) == all.end())
      fail(key, "override for strategy '" + s + "', which the grid does not run; add it " +
                    "to grid.strategy or remove the override");
    auto a = axes(n, "overrides." + s);
    if (std::any_of(a.begin(), a.end(), axis_named("strategy")))
      fail(n, "an override cannot change the strategy");
    for (const Axis& x : a) key_order_.push_back(x.name);
    overrides[s] = {std::move(a), line(key)};
  }
  return overrides;
}

// Odometer over the axes, the first one slowest, so runs come in the suite's order; each point
// starts as `first` and is kept unless an exclusion drops it.
void SuiteParser::add_grid_points(const std::vector<Axis>& mine, const Point& first,
                                  const std::vector<size_t>& excludes) {
  std::vector<size_t> pos(mine.size(), 0);
  for (bool more = true; more;) {
    Point p = first;
    for (size_t i = 0; i < mine.size(); ++i) {
      set(p.given, {mine[i].name, mine[i].values[pos[i]]});
      if (pos[i] < mine[i].lines.size() && mine[i].lines[pos[i]] > 0)
        p.value_lines.emplace_back(mine[i].name, mine[i].lines[pos[i]]);
    }
    if (!excluded(p, excludes)) {
      p.options = p.given;
      use_dataset(p);
      points_.push_back(std::move(p));
    }
    more = advance_odometer(pos, mine);
  }
}

// Whether any of the exclusions drops the point; every one that does counts the match.
bool SuiteParser::excluded(const Point& p, const std::vector<size_t>& excludes) {
  bool dropped = false;
  for (size_t e : excludes) {
    const auto& keys = excludes_[e].keys;
    const bool all = std::all_of(keys.begin(), keys.end(), [&](const Axis& k) {
      const Value* v = find(p.given, k.name);
      return v && std::find(k.values.begin(), k.values.end(), *v) != k.values.end();
    });
    if (all) ++excludes_[e].matched, dropped = true;
  }
  return dropped;
}

// The label word for one value: names bare, flags by their state, others key + value.
std::string SuiteParser::part(const Opt& o) const {
  if (o.name == "strategy" || o.name == "dataset" || o.name == "model")
    return folder_safe(o.value.text);
  if (o.value.flag) return underscored(o.value.on ? o.name : twin(o.name, true));
  return underscored(o.name) + folder_safe(o.value.text);
}

// A flag's --no- twin (or a --no- flag's positive); "" if train has none, unless `any`.
std::string SuiteParser::twin(const std::string& name, bool any) const {
  const std::string t = name.rfind("no-", 0) == 0 ? name.substr(3) : "no-" + name;
  return any || flags_.count(t) ? t : "";
}

// Labels name the group and the keys with two or more values within it. Points of one group
// share their keys (an override gives every point of its strategy the same ones), so points
// that differ differ in such a key, and equal labels mean equal options.
void SuiteParser::label_points() {
  if (points_.empty()) fail(1, "every grid point is excluded, so the suite has no runs");
  // Strategy first, then grid and override keys as they first appear, then the rest.
  std::vector<std::string> order{"strategy"};
  order.insert(order.end(), key_order_.begin(), key_order_.end());
  for (const auto& p : points_)
    for (const auto& o : p.given) order.push_back(o.name);
  std::map<std::string, std::vector<Point*>> groups;
  for (auto& p : points_) groups[p.group].push_back(&p);
  std::map<std::string, int> lines;
  for (auto& [name, points] : groups) {
    std::vector<std::string> keys;
    for (const auto& k : order) {
      std::set<std::string> parts;
      for (const Point* p : points)
        if (const Value* v = find(p->given, k)) parts.insert(part({k, *v}));
      if (parts.size() >= 2 && std::find(keys.begin(), keys.end(), k) == keys.end())
        keys.push_back(k);
    }
    for (Point* p : points) {
      p->label = name;
      for (const auto& k : keys) {
        if (const Value* v = find(p->given, k)) {
          p->label += (p->label.empty() ? "" : "-") + part({k, *v});
          p->label_keys.push_back(k);
        }
      }
      if (p->label.empty()) p->label = folder_safe(find(p->given, "strategy")->text);
      const auto [it, fresh] = lines.emplace(p->label, p->line);
      if (!fresh)
        fail(p->line, "run '" + p->label + "-r0' comes twice (also from line " +
                          std::to_string(it->second) +
                          "): two grid points with the same options; make them differ");
    }
  }
}

std::vector<std::string> SuiteParser::args_of(const Opts& opts) const {
  std::vector<std::string> args;
  for (const auto& o : opts) {
    if (!o.value.flag)
      args.insert(args.end(), {"--" + o.name, o.value.text});
    else if (o.value.on)
      args.push_back("--" + o.name);
    else if (!twin(o.name).empty())
      args.push_back("--" + twin(o.name));  // augment: false must turn augmentation off
  }
  return args;
}

nlohmann::json SuiteParser::typed(const Value& v) {
  if (v.flag) return v.on;
  static const std::regex integer("[-+]?[0-9]{1,18}");
  static const std::regex real("[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?");
  if (std::regex_match(v.text, integer)) return std::stoll(v.text);
  if (std::regex_match(v.text, real)) return std::stod(v.text);
  return v.text;
}

SuiteRun SuiteParser::make_run(const Point& p, int repeat) const {
  SuiteRun r{p.label,
             repeat,
             p.label + "-r" + std::to_string(repeat),
             args_of(p.options),
             nlohmann::json::object(),
             nlohmann::json::object(),
             p.group,
             p.note,
             p.line};
  for (const auto& o : p.options) {
    // Config's field names: no-augment: true is augment: false.
    const bool negative = o.value.flag && o.name.rfind("no-", 0) == 0 && !twin(o.name).empty();
    r.options[underscored(negative ? twin(o.name) : o.name)] =
        negative ? nlohmann::json(!o.value.on) : typed(o.value);
  }
  for (const auto& k : p.label_keys) r.axes[underscored(k)] = typed(*find(p.given, k));
  return r;
}

}  // namespace parallax::suite_detail
