// RunRecord: one run as the results database holds it and the report reads it.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace parallax {

// One row of a run's epochs.csv.
struct EpochRow {
  int epoch = 0;  // 0-based
  int64_t steps = 0;
  double train_loss = 0, train_accuracy = 0, test_loss = 0, test_accuracy = 0;
  double train_time_s = 0, eval_time_s = 0, images_per_sec = 0, lr = 0;
  double elapsed_train_s = 0;  // training seconds since the run began, evaluation excluded
};

struct RunRecord {
  std::string name;    // the run directory's name, unique within a runs directory
  std::string dir;     // the run directory's path when it was recorded ("" if unknown)
  std::string suite;   // the suite that ran it; "" for a run trained on its own
  std::string label;   // what the run measures, repeats alike (e.g. "pipeline split-size 8")
  int repeat = 0;      // 0-based repeat of label
  std::string status;  // "finished", "failed", "running", "diverged" or "interrupted"
  std::string error;   // failed: the one-line reason
  std::string note;    // e.g. "cifar10 absent: synthetic stand-in of the same shape"
  std::string host, git_revision;
  double started_at = 0, finished_at = 0;  // Unix seconds; 0 when unknown
  nlohmann::json config = nlohmann::json::object();   // config.json (the Config as JSON)
  nlohmann::json summary = nlohmann::json::object();  // summary.json; empty unless finished
  std::vector<EpochRow> epochs;
};

}  // namespace parallax
