// Runs of the CLI in dist tests: running one that must succeed, reading its summary, and reading
// its checkpoint back: the parameters of its (BatchNorm-free) resnet20 and the largest difference
// between two runs'.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "models/resnet.h"
#include "test_util.h"

namespace parallax::testing {

inline void run_ok(const std::string& command) {
  auto r = run_command(command);
  ASSERT_EQ(r.exit_code, 0) << command << "\n" << r.output;
}

inline nlohmann::json summary_of(const std::string& run_dir) {
  return nlohmann::json::parse(read_text(run_dir + "/summary.json"));
}

inline std::vector<torch::Tensor> parameters_of(const std::string& run_dir) {
  auto model = make_resnet({"resnet20", 3, 10, false});
  torch::serialize::InputArchive archive, model_archive;
  archive.load_from(run_dir + "/checkpoint.pt");
  archive.read("model", model_archive);
  model->load(model_archive);
  return model->parameters();
}

inline double max_difference(const std::string& a, const std::string& b) {
  const auto pa = parameters_of(a), pb = parameters_of(b);
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i)
    worst = std::max(worst, (pa[i] - pb[i]).abs().max().item<double>());
  return worst;
}

}  // namespace parallax::testing
