// Benchmark suites: a YAML file that expands into a checked grid of `parallax train` runs.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace parallax {

// One run of a suite: one grid point, one repeat.
struct SuiteRun {
  // Unique per grid point and safe as a folder name: the group (if the suite has groups), then the
  // values of the keys with two or more values in that group (or suite), strategy first, then in
  // grid and override order, e.g. "pipeline-split_size8".
  std::string label;
  int repeat = 0;    // 0 .. repeats-1
  std::string name;  // label + "-r" + repeat: the run folder's name
  // The train arguments, e.g. {"--model", "resnet20", "--strategy", "pipeline", "--split-size",
  // "8"}; never --out or --resume (the runner owns the folders).
  std::vector<std::string> args;
  // The same as a JSON object under Config's field names (split_size: 8; no-augment: true is
  // augment: false), for the report and for a failed run's record.
  nlohmann::json options;
  // The values that name this run (label keys -> value; a named dataset by its name), so a report
  // can group and chart runs by what the suite varies.
  nlohmann::json axes;
  std::string group;  // the suite group's name; "" in a suite without groups
  std::string note;   // e.g. why a stand-in dataset replaced the named one; "" otherwise
  int line = 0;       // the suite line this run comes from: its override, else its strategy entry
};

// A named part of a suite with its own grid (e.g. the seed study's split-size sweep).
struct SuiteGroup {
  std::string name, description;
  int line = 0;
};

struct Suite {
  std::string name, description, file;
  int repeats = 1;
  std::vector<SuiteGroup> groups;  // empty for a suite with one top-level grid
  // Repeat-major: every grid point's r0, then every r1 ..., so drift on a shared machine spreads
  // over all points instead of biasing the ones run last.
  std::vector<SuiteRun> runs;
};

// What the suite's option keys are checked against: `parallax train`'s own table.
struct SuiteChecks {
  std::vector<std::string> known_options;  // long names with dashes: "split-size", "no-augment"
  std::vector<std::string> flag_options;   // those that take no value
  // Throws UserError if these train arguments are impossible (the runner parses and validates them
  // exactly like `parallax train`); load_suite rethrows as "FILE:LINE: run LABEL: <message>".
  std::function<void(const std::vector<std::string>& args)> check_run;
  // For datasets.<name>.requires_path; unset: std::filesystem::exists.
  std::function<bool(const std::string& path)> path_exists;
};

// Parses, expands and checks a suite; every fault is a UserError "FILE:LINE: what; what to do".
//
// Top-level keys: suite (name, required), description, repeats (default 1), defaults (options of
// every run), grid (key -> list; the lists are crossed), overrides (strategy -> {key: list}:
// replaces or adds those keys for that strategy only), exclude (list of {key: value or list}: drop
// the points matching every key), datasets (named datasets: options, requires_path, stand_in
// {options, note}; a named dataset's options win over the run's other keys), and groups: a list of
// {name, description, repeats, defaults, grid, overrides, exclude} in place of a top-level grid,
// each expanded on its own on top of the top-level defaults, its name starting its labels.
// Option keys are `train` long options with '_' or '-'; a flag takes true or false (false passes
// its --no- twin where there is one, else nothing).
Suite load_suite(const std::string& yaml_text, const std::string& file_name,
                 const SuiteChecks& checks);

// load_suite on a file's text; UserError if it cannot be read.
Suite load_suite_file(const std::string& path, const SuiteChecks& checks);

}  // namespace parallax
