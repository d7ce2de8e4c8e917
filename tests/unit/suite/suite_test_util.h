// Suite test helpers: train's option table as the runner lists it, run names and error checks.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include "suite/bench_command.h"
#include "suite/suite.h"
#include "test_util.h"

namespace parallax::testing {

using Args = std::vector<std::string>;

// `parallax train --help`'s long options and flags, from the real option table (as the runner
// lists them), with no run checks and the data present or not.
inline SuiteChecks permissive(bool data_present = false) {
  const SuiteChecks real = train_suite_checks();
  SuiteChecks c;
  c.known_options = real.known_options;
  c.flag_options = real.flag_options;
  c.check_run = [](const Args&) {};
  c.path_exists = [data_present](const std::string&) { return data_present; };
  return c;
}

inline std::vector<std::string> names(const Suite& s) {
  std::vector<std::string> out;
  for (const auto& r : s.runs) out.push_back(r.name);
  return out;
}

inline const SuiteRun& run_named(const Suite& s, const std::string& name) {
  for (const auto& r : s.runs)
    if (r.name == name) return r;
  throw std::runtime_error("no run " + name);
}

inline void expect_error(const std::string& yaml, const std::vector<std::string>& needles,
                         const SuiteChecks& checks = permissive()) {
  expect_user_error([&] { load_suite(yaml, "t.yaml", checks); }, needles);
}

}  // namespace parallax::testing
