// Suite YAML -> checked runs: option keys and values, grids, overrides, exclusions and labels.
#include "report/suite.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <utility>

#include "config/user_error.h"

namespace parallax {
namespace {

using Node = YAML::Node;

struct Value {
  std::string text;  // as written; flags: "true" or "false"
  bool flag = false, on = false;
  bool operator==(const Value& o) const { return flag ? o.flag && on == o.on : text == o.text; }
};
struct Opt {
  std::string name;  // dashed, as `train` spells it
  Value value;
};
using Opts = std::vector<Opt>;  // ordered: args follow the suite's order

const Value* find(const Opts& opts, const std::string& name) {
  for (const auto& o : opts)
    if (o.name == name) return &o.value;
  return nullptr;
}

void set(Opts& opts, const Opt& opt) {
  for (auto& o : opts)
    if (o.name == opt.name) return void(o.value = opt.value);
  opts.push_back(opt);
}

// One key of a grid, an override or an exclusion, with its values.
struct Axis {
  std::string name;
  std::vector<Value> values;
  std::vector<int> lines;  // of each value, so a run can name its strategy entry
};

struct Exclude {
  std::vector<Axis> keys;
  int line = 0;
  int matched = 0;  // an entry that drops nothing is a typo, not a no-op
};

struct NamedDataset {
  Opts options, stand_in;
  std::string requires_path, note;
  int path_line = 0;
  bool has_stand_in = false;
};

struct Point {
  std::string group, note, label;
  Opts given;    // before named datasets expand: what labels and exclusions see
  Opts options;  // what runs
  int line = 0, repeats = 1;
  std::vector<std::string> label_keys;  // the keys its label names, in label order
};

std::string underscored(std::string s) {
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

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

// Folder-safe: letters, digits and . _ + - stay, anything else becomes '_'.
std::string folder_safe(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && !std::strchr("._+-", c)) c = '_';
  if (!s.empty() && s[0] == '.') s[0] = '_';
  return s;
}

class SuiteParser {
 public:
  SuiteParser(std::string file, const SuiteChecks& checks)
      : file_(std::move(file)), checks_(checks) {
    known_.insert(checks.known_options.begin(), checks.known_options.end());
    flags_.insert(checks.flag_options.begin(), checks.flag_options.end());
  }

  Suite parse(const Node& root) {
    const std::vector<std::string> group_keys{"name", "description", "repeats", "defaults",
                                              "grid", "overrides",   "exclude"};
    auto top = fields(root,
                      {"suite", "description", "repeats", "defaults", "grid", "overrides",
                       "exclude", "datasets", "groups"},
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
        fail(p.line, "run " + p.label + ": " + e.what());
      }
    }
    int most = 0;
    for (const auto& p : points_) most = std::max(most, p.repeats);
    for (int r = 0; r < most; ++r)
      for (const auto& p : points_)
        if (r < p.repeats) suite.runs.push_back(make_run(p, r));
    return suite;
  }

 private:
  [[noreturn]] void fail(int line, const std::string& what) const {
    throw UserError(file_ + ":" + std::to_string(line) + ": " + what);
  }
  [[noreturn]] void fail(const Node& n, const std::string& what) const { fail(line(n), what); }
  static int line(const Node& n) { return n.IsDefined() ? std::max(1, n.Mark().line + 1) : 1; }

  // An optional field's value, or an undefined node.
  static Node at(const std::map<std::string, Node>& fields, const std::string& key) {
    const auto it = fields.find(key);
    return it != fields.end() ? it->second : Node(YAML::NodeType::Undefined);
  }

  std::string text(const Node& n, const std::string& what) const {
    if (!n.IsScalar()) fail(n, what + " takes one value (text)");
    return n.Scalar();
  }

  std::string name_of(const Node& n, const std::string& what) const {
    const std::string name = text(n, what);
    if (name.empty() || folder_safe(name) != name)
      fail(n, what + " '" + name + "' must be a folder name: letters, digits, . _ + -");
    return name;
  }

  int repeats(const Node& n) const {
    const std::string t = n.IsScalar() ? n.Scalar() : "";
    if (!std::regex_match(t, std::regex("[0-9]{1,6}")) || std::stoi(t) < 1)
      fail(n, "repeats must be a whole number of 1 or more, not '" + t + "'");
    return std::stoi(t);
  }

  std::vector<std::pair<Node, Node>> entries(const Node& map, const std::string& where) const {
    if (!map.IsMap()) fail(map, where + " must be a mapping (key: value)");
    std::vector<std::pair<Node, Node>> out;
    for (const auto& kv : map) out.emplace_back(kv.first, kv.second);
    return out;
  }

  // The map's fields by key, each key one of `allowed`.
  std::map<std::string, Node> fields(const Node& map, const std::vector<std::string>& allowed,
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
  std::string option(const Node& key) const {
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

  Value value(const std::string& name, const Node& n, bool in_list = false) const {
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
  std::vector<Axis> axes(const Node& map, const std::string& where, bool lists = true) {
    std::vector<Axis> out;
    for (const auto& [key, n] : entries(map, where)) {
      Axis a{option(key), {}, {}};
      for (const auto& b : out)
        if (b.name == a.name) fail(key, "option '" + a.name + "' twice in " + where);
      if (n.IsNull()) fail(key, "option '" + a.name + "' has no value");
      if (n.IsSequence() && n.size() == 0)
        fail(n,
             "'" + key.Scalar() + "' has an empty list in " + where + "; give at least one value");
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

  Opts options(const Node& map, const std::string& where) {
    Opts out;
    for (const Axis& a : axes(map, where, false)) out.push_back({a.name, a.values[0]});
    return out;
  }

  // The exclusions' indices in excludes_.
  std::vector<size_t> parse_excludes(const Node& list) {
    std::vector<size_t> out;
    if (!list.IsDefined()) return out;
    if (!list.IsSequence()) fail(list, "exclude is a list of {option: value} entries");
    for (const Node& e : list) {
      out.push_back(excludes_.size());
      excludes_.push_back({axes(e, "an exclude entry"), line(e), 0});
    }
    return out;
  }

  void parse_datasets(const Node& map) {
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

  // A named dataset's options (or its stand-in's), which win over the run's other keys.
  void use_dataset(Point& p) {
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
    for (const Opt& o : *opts) set(p.options, o);
  }

  // One grid (the suite's or a group's) crossed, per strategy with its override, into points_.
  void expand(const std::map<std::string, Node>& f, const std::string& group, const Opts& base,
              const std::vector<size_t>& excludes, int group_line, int repeats) {
    const Node grid_node = at(f, "grid"), overrides_node = at(f, "overrides");
    const auto grid = grid_node.IsDefined() ? axes(grid_node, "grid") : std::vector<Axis>{};
    auto by_name = [](const std::string& n) { return [n](const Axis& a) { return a.name == n; }; };
    const auto in_grid = std::find_if(grid.begin(), grid.end(), by_name("strategy"));
    const bool strategy_in_grid = in_grid != grid.end();
    Axis strategies = strategy_in_grid ? *in_grid : Axis{"strategy", {}, {}};
    if (!strategy_in_grid) {
      const Value* s = find(base, "strategy");
      strategies.values.push_back(s ? *s : Value{"single"});  // train's default, said out loud
      strategies.lines.push_back(grid_node.IsDefined() ? line(grid_node) : group_line);
    }
    for (const Axis& a : grid) key_order_.push_back(a.name);
    std::map<std::string, std::pair<std::vector<Axis>, int>> overrides;
    if (overrides_node.IsDefined()) {
      for (const auto& [key, n] : entries(overrides_node, "overrides")) {
        const std::string s = key.Scalar();
        const auto& all = strategies.values;
        if (std::find(all.begin(), all.end(), Value{s}) == all.end())
          fail(key, "override for strategy '" + s + "', which the grid does not run; add it " +
                        "to grid.strategy or remove the override");
        auto a = axes(n, "overrides." + s);
        if (std::any_of(a.begin(), a.end(), by_name("strategy")))
          fail(n, "an override cannot change the strategy");
        for (const Axis& x : a) key_order_.push_back(x.name);
        overrides[s] = {std::move(a), line(key)};
      }
    }
    for (size_t si = 0; si < strategies.values.size(); ++si) {
      const Value& s = strategies.values[si];
      std::vector<Axis> mine = grid;
      if (strategy_in_grid)
        *std::find_if(mine.begin(), mine.end(), by_name("strategy")) = Axis{"strategy", {s}, {0}};
      int run_line = strategies.lines[si];
      if (overrides.count(s.text)) {
        run_line = overrides[s.text].second;
        for (const Axis& o : overrides[s.text].first) {
          auto it = std::find_if(mine.begin(), mine.end(), by_name(o.name));
          if (it != mine.end())
            *it = o;
          else
            mine.push_back(o);
        }
      }
      // Odometer over the axes, the first one slowest, so runs come in the suite's order.
      std::vector<size_t> pos(mine.size(), 0);
      for (bool more = true; more;) {
        Point p{group, "", "", base, {}, run_line, repeats, {}};
        if (!strategy_in_grid) set(p.given, {"strategy", s});
        for (size_t i = 0; i < mine.size(); ++i)
          set(p.given, {mine[i].name, mine[i].values[pos[i]]});
        bool dropped = false;
        for (size_t e : excludes) {
          const auto& keys = excludes_[e].keys;
          const bool all = std::all_of(keys.begin(), keys.end(), [&](const Axis& k) {
            const Value* v = find(p.given, k.name);
            return v && std::find(k.values.begin(), k.values.end(), *v) != k.values.end();
          });
          if (all) ++excludes_[e].matched, dropped = true;
        }
        if (!dropped) {
          p.options = p.given;
          use_dataset(p);
          points_.push_back(std::move(p));
        }
        more = false;
        for (size_t i = mine.size(); i-- > 0 && !more;) {
          if (++pos[i] < mine[i].values.size())
            more = true;
          else
            pos[i] = 0;
        }
      }
    }
  }

  // The label word for one value: names bare, flags by their state, others key + value.
  std::string part(const Opt& o) const {
    if (o.name == "strategy" || o.name == "dataset" || o.name == "model")
      return folder_safe(o.value.text);
    if (o.value.flag) return underscored(o.value.on ? o.name : twin(o.name, true));
    return underscored(o.name) + folder_safe(o.value.text);
  }

  // A flag's --no- twin (or a --no- flag's positive); "" if train has none, unless `any`.
  std::string twin(const std::string& name, bool any = false) const {
    const std::string t = name.rfind("no-", 0) == 0 ? name.substr(3) : "no-" + name;
    return any || flags_.count(t) ? t : "";
  }

  // Labels name the group and the keys with two or more values within it. Points of one group
  // share their keys (an override gives every point of its strategy the same ones), so points
  // that differ differ in such a key, and equal labels mean equal options.
  void label_points() {
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

  std::vector<std::string> args_of(const Opts& opts) const {
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

  static nlohmann::json typed(const Value& v) {
    if (v.flag) return v.on;
    static const std::regex integer("[-+]?[0-9]{1,18}");
    static const std::regex real("[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?");
    if (std::regex_match(v.text, integer)) return std::stoll(v.text);
    if (std::regex_match(v.text, real)) return std::stod(v.text);
    return v.text;
  }

  SuiteRun make_run(const Point& p, int repeat) const {
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

  std::string file_;
  const SuiteChecks& checks_;
  std::set<std::string> known_, flags_;
  std::map<std::string, NamedDataset> datasets_;
  std::map<std::string, bool> present_;  // requires_path -> exists, asked once per path
  std::vector<Exclude> excludes_;        // every exclusion of the suite and of its groups
  std::vector<std::string> key_order_;   // grid and override keys in the order they appear
  std::vector<Point> points_;
};

}  // namespace

Suite load_suite(const std::string& yaml_text, const std::string& file_name,
                 const SuiteChecks& checks) {
  auto where = [&](const YAML::Exception& e) {
    return file_name + ":" + std::to_string(std::max(1, e.mark.line + 1)) + ": ";
  };
  Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw UserError(where(e) + "YAML syntax error: " + e.msg + "; fix the suite's syntax");
  }
  if (root.IsNull()) throw UserError(file_name + ":1: the suite is empty; add `suite: NAME`");
  try {
    return SuiteParser(file_name, checks).parse(root);
  } catch (const YAML::Exception& e) {  // a node of an unexpected kind slipped past the checks
    throw UserError(where(e) + e.msg);
  }
}

Suite load_suite_file(const std::string& path, const SuiteChecks& checks) {
  std::ifstream in(path);
  if (!in) throw UserError(path + ": cannot read the suite file; check the path, or use --preset");
  std::stringstream text;
  text << in.rdbuf();
  return load_suite(text.str(), path, checks);
}

}  // namespace parallax
