// Suite YAML nodes -> checked fields: top level, groups, options, values, datasets and excludes.
#include "suite/suite_parser.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "config/user_error.h"

namespace parallax::suite_detail {
namespace {

// The nearest name within 2 edits (Levenshtein), or "".
std::string closest(const std::string& word, const std::vector<std::string>& names) {
  std::string best;
  size_t best_d = 3;
  for (const auto& n : names) {
    std::vector<size_t> row(n.size() + 1);
    for (size_t j = 0; j <= n.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= word.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= n.size(); ++j)
        diag = std::exchange(
            row[j], std::min({row[j] + 1, row[j - 1] + 1, diag + (word[i - 1] != n[j - 1])}));
    }
    if (row[n.size()] < best_d) best_d = row[n.size()], best = n;
  }
  return best;
}

}  // namespace

Suite SuiteParser::parse(const Node& root) {
  const std::vector<std::string> group_keys{"name", "description", "repeats", "defaults",
                                            "grid", "overrides",   "exclude"};
  auto top = fields(root,
                    {"suite", "description", "repeats", "defaults", "grid", "overrides", "exclude",
                     "datasets", "groups"},
                    "the top level");
  Suite suite;
  suite.file = file_;
  if (!top.count("suite")) fail(root, "no suite name; add `suite: NAME` at the top");
  suite.name = name_of(top["suite"], "suite");
  if (top.count("description")) suite.description = text(top["description"], "description");
  if (top.count("repeats")) suite.repeats = repeats(top["repeats"]);
  const Opts defaults = top.count("defaults") ? options(top["defaults"], "defaults") : Opts{};
  if (top.count("datasets")) parse_datasets(top["datasets"]);
  const std::vector<size_t> shared = parse_excludes(at(top, "exclude"));
  if (!top.count("groups")) {
    expand(top, "", defaults, shared, line(root), suite.repeats);
  } else {
    for (const char* k : {"grid", "overrides"})
      if (top.count(k)) fail(top[k], std::string(k) + " goes inside each group of groups");
    const Node& groups = top["groups"];
    if (!groups.IsSequence() || groups.size() == 0)
      fail(groups, "groups is a list of {name, grid, ...}; give at least one");
    for (const Node& g : groups) {
      auto f = fields(g, group_keys, "a group");
      if (!f.count("name")) fail(g, "a group needs a name (it starts its runs' labels)");
      SuiteGroup group{name_of(f["name"], "group name"), "", line(g)};
      for (const auto& other : suite.groups)
        if (other.name == group.name) fail(f["name"], "group '" + group.name + "' twice");
      if (f.count("description")) group.description = text(f["description"], "description");
      Opts base = defaults;
      if (f.count("defaults"))
        for (const Opt& o : options(f["defaults"], "defaults")) set(base, o);
      std::vector<size_t> excludes = shared, own = parse_excludes(at(f, "exclude"));
      excludes.insert(excludes.end(), own.begin(), own.end());
      expand(f, group.name, base, excludes, line(g),
             f.count("repeats") ? repeats(f["repeats"]) : suite.repeats);
      suite.groups.push_back(group);
    }
  }
  for (const auto& e : excludes_)
    if (e.matched == 0) fail(e.line, "this exclude entry matches no run; check its values");
  label_points();
  for (const auto& p : points_) {
    try {
      if (checks_.check_run) checks_.check_run(args_of(p.options));
    } catch (const UserError& e) {
      // The error names its option first ("--batch-size 0: ..."): point at that value's line.
      const std::string what = e.what();
      int at = p.line;
      for (const auto& [name, value_line] : p.value_lines)
        if (what.rfind("--" + name + " ", 0) == 0 || what.rfind("--" + name + ":", 0) == 0)
          at = value_line;
      fail(at, "run " + p.label + ": " + what);
    }
  }
  int most = 0;
  for (const auto& p : points_) most = std::max(most, p.repeats);
  for (int r = 0; r < most; ++r)
    for (const auto& p : points_)
      if (r < p.repeats) suite.runs.push_back(make_run(p, r));
  return suite;
}

// An optional field's value, or an undefined node.
Node SuiteParser::at(const std::map<std::string, Node>& fields, const std::string& key) {
  const auto it = fields.find(key);
  return it != fields.end() ? it->second : Node(YAML::NodeType::Undefined);
}

std::string SuiteParser::text(const Node& n, const std::string& what) const {
  if (!n.IsScalar()) fail(n, what + " takes one value (text)");
  return n.Scalar();
}

std::string SuiteParser::name_of(const Node& n, const std::string& what) const {
  const std::string name = text(n, what);
  if (name.empty() || folder_safe(name) != name)
    fail(n, what + " '" + name + "' must be a folder name: letters, digits, . _ + -");
  return name;
}

int SuiteParser::repeats(const Node& n) const {
  const std::string t = n.IsScalar() ? n.Scalar() : "";
  if (!std::regex_match(t, std::regex("[0-9]{1,6}")) || std::stoi(t) < 1)
    fail(n, "repeats must be a whole number of 1 or more, not '" + t + "'");
  return std::stoi(t);
}

std::vector<std::pair<Node, Node>> SuiteParser::entries(const Node& map,
                                                        const std::string& where) const {
  if (!map.IsMap()) fail(map, where + " must be a mapping (key: value)");
  std::vector<std::pair<Node, Node>> out;
  for (const auto& kv : map) out.emplace_back(kv.first, kv.second);
  return out;
}

// The map's fields by key, each key one of `allowed`.
std::map<std::string, Node> SuiteParser::fields(const Node& map,
                                                const std::vector<std::string>& allowed,
                                                const std::string& where) const {
  std::map<std::string, Node> out;
  for (const auto& [k, v] : entries(map, where)) {
    const std::string key = k.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list, near = closest(key, allowed);
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(k, "unknown key '" + key + "' in " + where + "; " +
                  (near.empty() ? "" : "did you mean " + near + "? ") + "allowed: " + list);
    }
    if (!out.emplace(key, v).second) fail(k, "key '" + key + "' twice in " + where);
  }
  return out;
}

// The `train` option a suite key names ('_' or '-'), dashed.
std::string SuiteParser::option(const Node& key) const {
  const std::string given = key.Scalar();
  std::string name = given;
  std::replace(name.begin(), name.end(), '_', '-');
  if (name == "out" || name == "resume")
    fail(key, "'" + given + "' cannot be set in a suite: the runner gives each run its " +
                  "folder (RUNS/<label>-r<k>); remove it");
  if (known_.count(name)) return name;
  const std::string near = closest(name, checks_.known_options);
  fail(key, "unknown option '" + given + "'; " +
                (near.empty() ? "see `parallax train --help` for the options"
                              : "did you mean " + near + "?"));
}

Value SuiteParser::value(const std::string& name, const Node& n, bool in_list) const {
  if (!n.IsScalar())
    fail(n, "option '" + name + "' takes one value here" +
                (in_list ? ", not a list or mapping" : "; lists go under grid or overrides"));
  if (!flags_.count(name)) return Value{n.Scalar()};
  bool on = false;
  if (!YAML::convert<bool>::decode(n, on))
    fail(n, "flag '" + name + "' takes true or false, not '" + n.Scalar() + "'");
  return Value{on ? "true" : "false", true, on};
}

// option -> list (or one value): a grid, an override, an exclusion, or (!lists) defaults.
std::vector<Axis> SuiteParser::axes(const Node& map, const std::string& where, bool lists) {
  std::vector<Axis> out;
  for (const auto& [key, n] : entries(map, where)) {
    Axis a{option(key), {}, {}};
    for (const auto& b : out)
      if (b.name == a.name) fail(key, "option '" + a.name + "' twice in " + where);
    if (n.IsNull()) fail(key, "option '" + a.name + "' has no value");
    if (n.IsSequence() && n.size() == 0)
      fail(n, "'" + key.Scalar() + "' has an empty list in " + where + "; give at least one value");
    if (!lists || !n.IsSequence()) {
      a.values.push_back(value(a.name, n, lists));
      a.lines.push_back(line(n));
    } else {
      for (const Node& v : n)
        a.values.push_back(value(a.name, v, true)), a.lines.push_back(line(v));
    }
    out.push_back(std::move(a));
  }
  return out;
}

Opts SuiteParser::options(const Node& map, const std::string& where) {
  Opts out;
  for (const Axis& a : axes(map, where, false)) out.push_back({a.name, a.values[0], a.lines[0]});
  return out;
}

// The exclusions' indices in excludes_.
std::vector<size_t> SuiteParser::parse_excludes(const Node& list) {
  std::vector<size_t> out;
  if (!list.IsDefined()) return out;
  if (!list.IsSequence()) fail(list, "exclude is a list of {option: value} entries");
  for (const Node& e : list) {
    out.push_back(excludes_.size());
    excludes_.push_back({axes(e, "an exclude entry"), line(e), 0});
  }
  return out;
}

void SuiteParser::parse_datasets(const Node& map) {
  for (const auto& [key, n] : entries(map, "datasets")) {
    const std::string where = "dataset " + key.Scalar();
    auto f = fields(n, {"options", "requires_path", "stand_in"}, where);
    NamedDataset d;
    if (!f.count("options")) fail(n, where + " needs options: {dataset: ...}");
    d.options = options(f["options"], where);
    if (f.count("requires_path")) {
      d.requires_path = text(f["requires_path"], "requires_path");
      d.path_line = line(f["requires_path"]);
    }
    if (f.count("stand_in")) {
      auto s = fields(f["stand_in"], {"options", "note"}, "stand_in");
      if (!s.count("options")) fail(f["stand_in"], "stand_in needs options: {dataset: ...}");
      d.stand_in = options(s["options"], "stand_in");
      if (s.count("note")) d.note = text(s["note"], "note");
      d.has_stand_in = true;
    }
    datasets_[key.Scalar()] = std::move(d);
  }
}

}  // namespace parallax::suite_detail
