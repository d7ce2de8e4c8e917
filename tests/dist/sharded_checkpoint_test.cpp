// Sharded checkpoints (--checkpoint-format sharded): every rank writes its own pieces, and a resume
// reshards them to another world size and strategy. A run that changes world and strategy at
// every epoch (a single device's and hybrid's written in the sharded format too) ends with the
// model of one that never stopped (float64, within 1e-10), each load
// holding at most 1.2x the state its rank keeps; export reads the format; a damaged checkpoint is
// one line.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "dist/run_params.h"
#include "train/state_dict_file.h"

namespace parallax {
namespace {

namespace fs = std::filesystem;
using testing::checked_parallax;
using testing::max_difference;
using testing::run_ok;
using testing::summary_of;

std::string resnet_args(const std::string& out, int epochs) {
  return checked_parallax() +
         " train --model resnet20 --norm none --image-size 16 --synthetic-train 48 "
         "--synthetic-test 32 --batch-size 16 --lr 0.01 --lr-schedule constant --optimizer adamw "
         "--threads 1 --timing-warmup 0 --comm-timeout 60 --bucket-mb 0.05 --dtype fp64 "
         "--no-augment --checkpoint-format sharded --epochs " +
         std::to_string(epochs) + " --out " + out;
}

std::string gpt_args(const std::string& out, int epochs) {
  return checked_parallax() +
         " train --model gpt-mini --layers 2 --width 32 --heads 4 --context 16 --dtype fp64 "
         "--dataset synthetic-text --vocab 63 --synthetic-train 64 --synthetic-test 16 "
         "--text-windows 64 --batch-size 8 --lr 0.01 --lr-schedule constant --optimizer adamw "
         "--threads 1 --timing-warmup 0 --comm-timeout 60 --no-trace "
         "--checkpoint-format sharded --epochs " +
         std::to_string(epochs) + " --out " + out;
}

// The load's figures of every rank of a resumed run: its peak within 1.2x the state it keeps.
void expect_light_loads(const std::string& run, const std::string& label) {
  const auto ranks = summary_of(run)["ranks"];
  for (const auto& r : ranks) {
    const auto& c = r["checkpoint"];
    ASSERT_TRUE(c["load_peak_bytes"].is_number()) << label;
    const double peak = c["load_peak_bytes"], kept = c["load_state_bytes"];
    std::printf("%-28s rank %d: load %.4f s, peak %.0f bytes = %.3fx the %.0f it keeps\n",
                label.c_str(), r["rank"].get<int>(), c["load_s"].get<double>(), peak, peak / kept,
                kept);
    EXPECT_GT(kept, 0) << label;
    EXPECT_LE(peak, 1.2 * kept) << label << " rank " << r["rank"];
  }
}

// One folder of rank files, named by the metadata written last; the earlier ones are gone.
void expect_one_complete_checkpoint(const std::string& run, int ranks) {
  const auto meta = nlohmann::json::parse(testing::read_text(run + "/checkpoint.json"));
  EXPECT_EQ(meta["ranks"], ranks);
  int folders = 0;
  for (const auto& e : fs::directory_iterator(run + "/checkpoint")) {
    ++folders;
    EXPECT_EQ("checkpoint/" + e.path().filename().string(), meta["folder"].get<std::string>());
  }
  EXPECT_EQ(folders, 1);
  for (int r = 0; r < ranks; ++r) {
    EXPECT_TRUE(fs::exists(run + "/" + meta["folder"].get<std::string>() + "/rank" +
                           std::to_string(r) + ".bin"));
  }
  EXPECT_FALSE(fs::exists(run + "/checkpoint.pt"));
}

TEST(ShardedCheckpoint, ZeroThreeDdpPipelineOneDeviceAndHybridReshardWorld2To4To2To1To4) {
  testing::TempDir dir;
  const std::string whole = dir / "whole", run = dir / "run";
  run_ok(resnet_args(whole, 5) + " --strategy zero --zero-stage 3 --nproc 2");
  // Epoch 1 as ZeRO-3 on 2 ranks, then each epoch on another world and strategy. Each reads the
  // last one's pieces: flat ZeRO chunks into whole parameters, whole ones into pipeline stages,
  // stages into one device.
  run_ok(resnet_args(run, 1) + " --strategy zero --zero-stage 3 --nproc 2");
  expect_one_complete_checkpoint(run, 2);
  const struct {
    const char* options;
    int ranks;
  } resumes[] = {{" --strategy ddp --nproc 4", 4},
                 {" --strategy pipeline --nproc 2", 2},
                 {" --strategy single --nproc 1", 1},
                 {" --strategy hybrid --dp 2 --pp 2 --nproc 4", 4}};
  int epochs = 1;
  for (const auto& r : resumes) {
    ++epochs;
    run_ok(checked_parallax() + " train --resume " + run + " --epochs " +
           std::to_string(epochs) + r.options);
    expect_light_loads(run, std::string("resnet20 into") + r.options);
    expect_one_complete_checkpoint(run, r.ranks);
  }
  const double diff = max_difference(whole, run);
  std::printf("zero-3 x2 -> ddp x4 -> pipeline x2 -> single -> hybrid 2x2: max |difference| %.3g\n",
              diff);
  EXPECT_LT(diff, 1e-10);

  // export reads the format: torchvision's state dict holds the same weights.
  const std::string exported = dir / "model.pt";
  run_ok(std::string(PARALLAX_BINARY) + " export " + run + " -o " + exported);
  auto model = make_model(model_spec(nlohmann::json::parse(testing::read_text(run + "/config.json"))
                                         .get<Config>(),
                                     3, 10, 16));
  model->set_floating_dtype(torch::kDouble);
  load_state_dict_file(exported, *model);
  const auto expected = testing::parameters_of(run);
  const auto got = model->parameters();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(torch::equal(got[i], expected[i])) << i;
}

// Channels-last ZeRO chunks hold their parameters in NHWC order: read into a pipeline's whole
// parameters (another order), each tensor is put together once and cut.
TEST(ShardedCheckpoint, ChannelsLastZeroChunksReshardIntoAPipeline) {
  testing::TempDir dir;
  const std::string whole = dir / "whole", run = dir / "run";
  const std::string zero = " --strategy zero --zero-stage 2 --nproc 2 --channels-last";
  run_ok(resnet_args(whole, 2) + zero);
  run_ok(resnet_args(run, 1) + zero);
  run_ok(checked_parallax() + " train --resume " + run +
         " --epochs 2 --strategy pipeline --nproc 2");
  expect_light_loads(run, "channels-last zero into pipeline");
  EXPECT_LT(max_difference(whole, run), 1e-10);
}

// A tensor-parallel run's shards (rows, columns, the fused QKV by heads) reshard to another
// degree, into pipeline stages with the tied head apart, and into ZeRO-3's flat chunks.
TEST(ShardedCheckpoint, TensorParallelShardsReshardToTp4PipelineAndZeroThree) {
  testing::TempDir dir;
  const std::string whole = dir / "whole", run = dir / "run";
  run_ok(gpt_args(whole, 4) + " --strategy tensor --tp 2 --nproc 2");
  run_ok(gpt_args(run, 1) + " --strategy tensor --tp 2 --nproc 2");
  const char* resumes[] = {" --strategy tensor --tp 4 --nproc 4",
                           " --strategy pipeline --tp 1 --nproc 2",
                           " --strategy zero --zero-stage 3 --tp 1 --nproc 2"};
  int epochs = 1;
  for (const char* options : resumes) {
    ++epochs;
    run_ok(checked_parallax() + " train --resume " + run + " --epochs " +
           std::to_string(epochs) + options);
    expect_light_loads(run, std::string("gpt into") + options);
  }
  const double diff = max_difference(whole, run);
  std::printf("tp 2 -> tp 4 -> pipeline x2 -> zero-3 x2: max |difference| %.3g\n", diff);
  EXPECT_LT(diff, 1e-10);
}

// A rank's file cut short, or another optimizer than the one that wrote it: one line, exit 2.
TEST(ShardedCheckpoint, ADamagedCheckpointOrAnotherOptimizerIsOneLine) {
  testing::TempDir dir;
  const std::string run = dir / "run";
  run_ok(resnet_args(run, 1) + " --strategy zero --zero-stage 1 --nproc 2");
  auto other = testing::run_command(checked_parallax() + " train --resume " + run +
                                    " --epochs 2 --optimizer sgd");
  EXPECT_EQ(other.exit_code, 2) << other.output;
  EXPECT_NE(other.output.find("the checkpoint holds optimizer state exp_avg, exp_avg_sq where "
                              "this run's optimizer keeps none: resume with the --optimizer it "
                              "was written with"),
            std::string::npos)
      << other.output;
  const auto meta = nlohmann::json::parse(testing::read_text(run + "/checkpoint.json"));
  const std::string bin = run + "/" + meta["folder"].get<std::string>() + "/rank1.bin";
  fs::resize_file(bin, fs::file_size(bin) / 2);
  auto r = testing::run_command(checked_parallax() + " train --resume " + run +
                                " --epochs 2 --nproc 2");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(bin + ": "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("is cut short; the checkpoint is damaged"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace parallax
