// Weights in and out of PyTorch: state dict files round-trip, `parallax export` loads strictly into
// torchvision's model, and torchvision's weights give parallax the same logits and, after one SGD
// step, the same parameters as PyTorch's own (checked by tests/python/torchvision_check.py).
#include <gtest/gtest.h>
#include <torch/serialize.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>

#include "config/config.h"
#include "launcher_util.h"
#include "models/resnet.h"
#include "models/torchvision_names.h"
#include "optim/optimizer.h"
#include "train/state_dict_file.h"

namespace parallax {
namespace {

using testing::run_command;

std::string check_script() {
  return testing::venv_python() + " " + PARALLAX_SOURCE_DIR + "/tests/python/torchvision_check.py";
}

// Skips unless .venv's Python has torchvision (exit 3 from the script says it has not).
#define PARALLAX_NEED_TORCHVISION(result)                         \
  if (testing::venv_python().empty() || (result).exit_code == 3)  \
  GTEST_SKIP() << "torchvision not found in " PARALLAX_SOURCE_DIR \
                  "/.venv: "                                      \
                  "scripts/install-deps.sh --torch2 installs it"

TEST(StateDictFile, RoundTripsEveryTensorUnderTorchvisionsNames) {
  testing::TempDir dir;
  torch::manual_seed(1);
  auto a = make_resnet({"resnet18", 3, 10, true});
  torch::manual_seed(2);
  auto b = make_resnet({"resnet18", 3, 10, true});
  save_state_dict_file(*a, dir / "a.pt");
  load_state_dict_file(dir / "a.pt", *b);
  const auto ta = torchvision_state(*a), tb = torchvision_state(*b);
  ASSERT_EQ(ta.size(), 122u);  // torchvision's resnet18 state_dict(): 62 parameters, 60 buffers
  for (size_t i = 0; i < ta.size(); ++i) {
    EXPECT_EQ(ta[i].first, tb[i].first);
    EXPECT_TRUE(torch::equal(ta[i].second, tb[i].second)) << ta[i].first;
  }
  EXPECT_EQ(ta.front().first, "conv1.weight");
  EXPECT_EQ(ta.back().first, "fc.bias");
}

TEST(StateDictFile, AMismatchIsOneLineNamingTheTensor) {
  testing::TempDir dir;
  auto ten = make_resnet({"resnet18", 3, 10, true});
  save_state_dict_file(*ten, dir / "ten.pt");
  auto hundred = make_resnet({"resnet18", 3, 100, true});
  testing::expect_user_error([&] { load_state_dict_file(dir / "ten.pt", *hundred); },
                             {"tensor 'fc.weight' has shape [10, 512], the model's is [100, 512]"});
  auto deeper = make_resnet({"resnet34", 3, 10, true});
  testing::expect_user_error([&] { load_state_dict_file(dir / "ten.pt", *deeper); },
                             {"no tensor 'layer1.2.conv1.weight'"});
  auto cifar = make_resnet({"resnet20", 3, 10, true});
  testing::expect_user_error([&] { load_state_dict_file(dir / "ten.pt", *cifar); },
                             {"ten.pt", "conv1.weight"});
  std::ofstream(dir / "junk.pt") << "not a state dict";
  testing::expect_user_error([&] { load_state_dict_file(dir / "junk.pt", *ten); },
                             {"junk.pt: not a zip archive torch.save wrote"});
  const auto r = run_command(std::string(PARALLAX_BINARY) +
                             " train --model resnet20 --steps 1 "
                             "--init-from " +
                             (dir / "ten.pt") + " --out " + (dir / "run"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("parallax: error: --init-from"), std::string::npos) << r.output;
}

TEST(Torchvision, ExportLoadsStrictlyAndInitFromStartsThere) {
  testing::TempDir dir;
  const std::string bin = PARALLAX_BINARY;
  const std::string run = dir / "r50";
  auto r = run_command(bin +
                       " train --model resnet50 --image-size 32 --synthetic-train 8 "
                       "--synthetic-test 8 --batch-size 4 --steps 1 --epochs 1 --out " +
                       run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(bin + " export " + run + " -o " + (dir / "r50.pt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(320 tensors)"), std::string::npos) << r.output;  // torchvision's count
  r = run_command(check_script() + " load resnet50 " + (dir / "r50.pt"));
  PARALLAX_NEED_TORCHVISION(r);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("loaded"), std::string::npos);
  // A run started from the exported file holds those weights before its first step: its
  // --steps 1 run from them with lr ~0 ends where they are, but for BatchNorm's statistics.
  r = run_command(bin +
                  " train --model resnet50 --image-size 32 --synthetic-train 8 "
                  "--synthetic-test 8 --batch-size 4 --steps 1 --epochs 1 --lr 1e-30 "
                  "--momentum 0 --weight-decay 0 --init-from " +
                  (dir / "r50.pt") + " --out " + (dir / "again"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(bin + " export " + (dir / "again") + " -o " + (dir / "again.pt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto first = make_resnet({"resnet50", 3, 10, true}),
       second = make_resnet({"resnet50", 3, 10, true});
  load_state_dict_file(dir / "r50.pt", *first);
  load_state_dict_file(dir / "again.pt", *second);
  for (const auto& p : first->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), second->named_parameters()[p.key()])) << p.key();
}

TEST(Torchvision, SameWeightsAndBatchGiveTorchvisionsLogitsAndPyTorchsSgdStep) {
  testing::TempDir dir;
  auto r = run_command(check_script() + " make " + dir.path());
  PARALLAX_NEED_TORCHVISION(r);
  ASSERT_EQ(r.exit_code, 0) << r.output;

  auto model = make_resnet({"resnet18", 3, 10, true});
  load_state_dict_file(dir / "tv.pt", *model);
  std::ifstream in(dir / "batch.pt", std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  const auto batch = torch::pickle_load(bytes).toGenericDict();
  const torch::Tensor images = batch.at("images").toTensor();
  const torch::Tensor labels = batch.at("labels").toTensor();

  model->eval();
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = model->forward(images);
  }
  save_tensor_dict_file({{"logits", logits}}, dir / "logits.pt");

  // One step of parallax's optimizer, as `train --optimizer sgd` builds it.
  model->train();
  Config cfg;
  cfg.lr = 0.1;
  cfg.momentum = 0.9;
  cfg.weight_decay = 5e-4;
  auto optimizer = make_optimizer(cfg, model->parameters());
  torch::nn::functional::cross_entropy(model->forward(images), labels).backward();
  optimizer->step();
  save_state_dict_file(*model, dir / "stepped.pt");

  r = run_command(check_script() + " check " + dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto d = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  std::printf("torchvision check: %s\n", d.dump().c_str());
  EXPECT_GT(d["logit_scale"].get<double>(), 0.1);  // logits of a size a 1e-5 bound means something
  EXPECT_LE(d["logits"].get<double>(), 1e-5) << d.dump();
  EXPECT_GT(d["moved"].get<double>(), 1e-3);  // the step moved the weights, by far more than 1e-5
  EXPECT_LE(d["step"].get<double>(), 1e-5) << d.dump();
}

}  // namespace
}  // namespace parallax
