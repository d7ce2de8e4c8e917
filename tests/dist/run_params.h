// Runs of the CLI in dist tests: running one that must succeed, reading its summary, and reading
// its checkpoint back (either format): the parameters of its model (the one its config.json names, BatchNorm-free
// unless asked) and the largest difference between two runs'.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "config/config_json.h"
#include "models/make_model.h"
#include "train/checkpoint.h"
#include "test_paths.h"
#include "test_util.h"

namespace parallax::testing {

// The dist tests' parallax: every collective of every rank goes through the checking group
// (distributed/checked_group.h), so NCCL's rules, and collectives issued in one order on every
// rank, hold for each strategy tested here, on the CPU.
inline std::string checked_parallax() {
  return std::string("PARALLAX_CHECK_COLLECTIVES=1 ") + PARALLAX_BINARY;
}

inline void run_ok(const std::string& command) {
  auto r = run_command(command);
  ASSERT_EQ(r.exit_code, 0) << command << "\n" << r.output;
}

inline nlohmann::json summary_of(const std::string& run_dir) {
  return nlohmann::json::parse(read_text(run_dir + "/summary.json"));
}

// The dtype the run trained in (--dtype, in its config.json).
inline torch::ScalarType dtype_of_run(const std::string& run_dir) {
  const auto cfg = nlohmann::json::parse(read_text(run_dir + "/config.json"));
  return cfg.value("dtype", "fp32") == "fp64" ? torch::kDouble : torch::kFloat;
}

inline std::vector<torch::Tensor> parameters_of(const std::string& run_dir, bool batch_norm = false) {
  const auto json = nlohmann::json::parse(read_text(run_dir + "/config.json"));
  const Config cfg = json.get<Config>();
  // A synthetic-text run's vocabulary is --vocab (the tests train no other text).
  auto spec = model_spec(cfg, 3, cfg.dataset == "synthetic-text" ? cfg.vocab : 10, cfg.image_size);
  spec.batch_norm = batch_norm;
  auto model = make_model(spec);
  model->set_floating_dtype(dtype_of_run(run_dir));
  if (latest_checkpoint_is_sharded(run_dir)) {
    load_sharded_model(run_dir, *model);
    return model->parameters();
  }
  torch::serialize::InputArchive archive, model_archive;
  archive.load_from(run_dir + "/checkpoint.pt", torch::kCPU);  // a GPU run's too
  archive.read("model", model_archive);
  model->load(model_archive);
  return model->parameters();
}

inline double max_difference(const std::string& a, const std::string& b) {
  const auto pa = parameters_of(a), pb = parameters_of(b);
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i)
    worst = std::max(worst, (pa[i].to(torch::kDouble) - pb[i].to(torch::kDouble)).abs().max()
                                .item<double>());
  return worst;
}

// ||a - b|| / ||a|| over all parameters (L2): the size of a difference relative to the model,
// which a few sensitive coordinates cannot dominate.
inline double relative_norm_difference(const std::string& a, const std::string& b) {
  const auto pa = parameters_of(a), pb = parameters_of(b);
  double diff = 0, norm = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    diff += (pa[i] - pb[i]).to(torch::kDouble).pow(2).sum().item<double>();
    norm += pa[i].to(torch::kDouble).pow(2).sum().item<double>();
  }
  return std::sqrt(diff / norm);
}

}  // namespace parallax::testing
