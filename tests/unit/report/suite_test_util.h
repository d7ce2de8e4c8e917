// Suite test helpers: train's option table as the runner lists it, run names and error checks.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include "report/suite.h"
#include "test_util.h"

namespace parallax::testing {

using Args = std::vector<std::string>;

// `parallax train --help`'s long options, as the runner lists them (without help).
inline SuiteChecks permissive(bool data_present = false) {
  SuiteChecks c;
  c.known_options = {"model",
                     "norm",
                     "dataset",
                     "data-dir",
                     "synthetic-kind",
                     "synthetic-train",
                     "synthetic-test",
                     "image-size",
                     "channels",
                     "classes",
                     "augment",
                     "no-augment",
                     "strategy",
                     "zero-stage",
                     "device",
                     "backend",
                     "threads",
                     "nproc",
                     "nnodes",
                     "node-rank",
                     "master-addr",
                     "master-port",
                     "comm-timeout",
                     "bucket-mb",
                     "tail-bucket-mb",
                     "overlap",
                     "no-overlap",
                     "accumulate",
                     "verify-replicas",
                     "sync-bn",
                     "split-at",
                     "balance",
                     "pipeline-schedule",
                     "micro-batches",
                     "split-size",
                     "dp",
                     "pp",
                     "batch-size",
                     "eval-batch-size",
                     "epochs",
                     "steps",
                     "target-accuracy",
                     "optimizer",
                     "lr",
                     "momentum",
                     "weight-decay",
                     "nesterov",
                     "no-nesterov",
                     "lr-schedule",
                     "warmup",
                     "seed",
                     "timing-warmup",
                     "out",
                     "resume",
                     "checkpoint",
                     "no-checkpoint"};
  c.flag_options = {"augment", "no-augment", "overlap",     "no-overlap", "verify-replicas",
                    "sync-bn", "nesterov",   "no-nesterov", "checkpoint", "no-checkpoint"};
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
