// Private to the suite loader: SuiteParser and the option, grid and run-point structs it uses.
#pragma once
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "config/user_error.h"
#include "suite/suite.h"

namespace parallax::suite_detail {

using Node = YAML::Node;

struct Value {
  std::string text;  // as written; flags: "true" or "false"
  bool flag = false, on = false;
  bool operator==(const Value& o) const { return flag ? o.flag && on == o.on : text == o.text; }
};
struct Opt {
  std::string name;  // dashed, as `train` spells it
  Value value;
  int line = 0;  // of the value in the suite file (defaults:, a dataset's options); 0: none
};
using Opts = std::vector<Opt>;  // ordered: args follow the suite's order

inline const Value* find(const Opts& opts, const std::string& name) {
  for (const auto& o : opts)
    if (o.name == name) return &o.value;
  return nullptr;
}

inline void set(Opts& opts, const Opt& opt) {
  for (auto& o : opts)
    if (o.name == opt.name) return void(o = opt);  // its value and the value's line
  opts.push_back(opt);
}

// One key of a grid, an override or an exclusion, with its values.
struct Axis {
  std::string name;
  std::vector<Value> values;
  std::vector<int> lines;  // of each value, so a run can name its strategy entry
};

// Per strategy, the axes its override sets and the line of its key.
using StrategyOverrides = std::map<std::string, std::pair<std::vector<Axis>, int>>;

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
  std::vector<std::string> label_keys;                   // the keys its label names, in label order
  std::vector<std::pair<std::string, int>> value_lines;  // option -> line of the value it takes
};

// Folder-safe: letters, digits and . _ + - stay, anything else becomes '_'.
inline std::string folder_safe(std::string s) {
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

  Suite parse(const Node& root);

 private:
  [[noreturn]] void fail(int line, const std::string& what) const {
    throw UserError(file_ + ":" + std::to_string(line) + ": " + what);
  }
  [[noreturn]] void fail(const Node& n, const std::string& what) const { fail(line(n), what); }
  static int line(const Node& n) { return n.IsDefined() ? std::max(1, n.Mark().line + 1) : 1; }

  // Reading and checking the YAML nodes (suite_parser.cpp).
  static Node at(const std::map<std::string, Node>& fields, const std::string& key);
  std::string text(const Node& n, const std::string& what) const;
  std::string name_of(const Node& n, const std::string& what) const;
  int repeats(const Node& n) const;
  std::vector<std::pair<Node, Node>> entries(const Node& map, const std::string& where) const;
  std::map<std::string, Node> fields(const Node& map, const std::vector<std::string>& allowed,
                                     const std::string& where) const;
  std::string option(const Node& key) const;
  Value value(const std::string& name, const Node& n, bool in_list = false) const;
  std::vector<Axis> axes(const Node& map, const std::string& where, bool lists = true);
  Opts options(const Node& map, const std::string& where);
  std::vector<size_t> parse_excludes(const Node& list);
  void parse_datasets(const Node& map);

  // Grid expansion, labels and the runs (suite_expand.cpp).
  void use_dataset(Point& p);
  void expand(const std::map<std::string, Node>& f, const std::string& group, const Opts& base,
              const std::vector<size_t>& excludes, int group_line, int repeats);
  StrategyOverrides read_overrides(const Node& node, const Axis& strategies);
  void add_grid_points(const std::vector<Axis>& grid_axes, const Point& first,
                       const std::vector<size_t>& excludes);
  bool excluded(const Point& p, const std::vector<size_t>& excludes);
  std::string part(const Opt& o) const;
  std::string twin(const std::string& name, bool any = false) const;
  void label_points();
  std::vector<std::string> args_of(const Opts& opts) const;
  static nlohmann::json typed(const Value& v);
  SuiteRun make_run(const Point& p, int repeat) const;

  std::string file_;
  const SuiteChecks& checks_;
  std::set<std::string> known_, flags_;
  std::map<std::string, NamedDataset> datasets_;
  std::map<std::string, bool> present_;  // requires_path -> exists, asked once per path
  std::vector<Exclude> excludes_;        // every exclusion of the suite and of its groups
  std::vector<std::string> key_order_;   // grid and override keys in the order they appear
  std::vector<Point> points_;
};

}  // namespace parallax::suite_detail
