// Suites: grid expansion, labels, named datasets, groups, and the presets.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "suite/presets.h"
#include "suite/suite.h"
#include "unit/suite/suite_test_util.h"

namespace parallax {
namespace {

using testing::Args;
using testing::names;
using testing::permissive;
using testing::run_named;

const char* kSmall = R"(suite: small
repeats: 2
defaults:
  model: resnet20
  no-checkpoint: true
grid:
  strategy: [single, ddp, pipeline]
  batch_size: [64]
  nproc: [1, 2]
overrides:
  single: {nproc: [1]}
  pipeline: {split_size: [8, 16]}
exclude:
  - {strategy: [ddp, pipeline], nproc: 1}
)";

TEST(Suite, GridCrossesOverridesAndExclusionsTimesRepeats) {
  const Suite s = load_suite(kSmall, "small.yaml", permissive());
  EXPECT_EQ(s.name, "small");
  EXPECT_EQ(s.file, "small.yaml");
  EXPECT_EQ(s.repeats, 2);
  // Repeat-major: every point's r0 first. batch_size is the same everywhere, so no label has it.
  EXPECT_EQ(names(s), (Args{"single-nproc1-r0", "ddp-nproc2-r0", "pipeline-nproc2-split_size8-r0",
                            "pipeline-nproc2-split_size16-r0", "single-nproc1-r1", "ddp-nproc2-r1",
                            "pipeline-nproc2-split_size8-r1", "pipeline-nproc2-split_size16-r1"}));
  const SuiteRun& p = run_named(s, "pipeline-nproc2-split_size8-r1");
  EXPECT_EQ(p.label, "pipeline-nproc2-split_size8");
  EXPECT_EQ(p.repeat, 1);
  EXPECT_EQ(p.args, (Args{"--model", "resnet20", "--no-checkpoint", "--strategy", "pipeline",
                          "--batch-size", "64", "--nproc", "2", "--split-size", "8"}));
  EXPECT_EQ(p.options, (nlohmann::json{{"model", "resnet20"},
                                       {"checkpoint", false},
                                       {"strategy", "pipeline"},
                                       {"batch_size", 64},
                                       {"nproc", 2},
                                       {"split_size", 8}}));
  EXPECT_EQ(p.axes, (nlohmann::json{{"strategy", "pipeline"}, {"nproc", 2}, {"split_size", 8}}));
  EXPECT_EQ(p.line, 12);  // its override
  EXPECT_EQ(run_named(s, "single-nproc1-r0").line, 11);
  EXPECT_EQ(run_named(s, "ddp-nproc2-r0").line, 7);  // its strategy entry in the grid
  EXPECT_EQ(run_named(s, "single-nproc1-r0").args,
            (Args{"--model", "resnet20", "--no-checkpoint", "--strategy", "single", "--batch-size",
                  "64", "--nproc", "1"}));
  EXPECT_EQ(p.note, "");
  EXPECT_EQ(p.group, "");
}

TEST(Suite, LabelsNameOnlyTheKeysThatVary) {
  const Suite s = load_suite(R"(suite: dp
grid: {strategy: [ddp], nproc: [1, 2], lr: [0.1]}
)",
                             "dp.yaml", permissive());
  EXPECT_EQ(names(s), (Args{"nproc1-r0", "nproc2-r0"}));
  const Suite one =
      load_suite("suite: one\ndefaults: {strategy: zero, nproc: 2}\n", "one.yaml", permissive());
  EXPECT_EQ(names(one), (Args{"zero-r0"}));
  EXPECT_EQ(one.runs[0].args, (Args{"--strategy", "zero", "--nproc", "2"}));
}

TEST(Suite, KeysAcceptUnderscoresOrDashesAndFlagsTrueOrFalse) {
  const Suite s = load_suite(R"(suite: flags
defaults: {split-size: 4, strategy: pipeline, nproc: 2, augment: false, sync_bn: false,
           no_overlap: false, verify-replicas: true}
grid: {pipeline_schedule: [gpipe, 1f1b]}
)",
                             "f.yaml", permissive());
  // augment: false turns augmentation off; sync-bn has no twin, so false passes nothing.
  EXPECT_EQ(s.runs[0].args,
            (Args{"--split-size", "4", "--strategy", "pipeline", "--nproc", "2", "--no-augment",
                  "--overlap", "--verify-replicas", "--pipeline-schedule", "gpipe"}));
  EXPECT_EQ(s.runs[0].options["augment"], false);
  EXPECT_EQ(s.runs[0].options["overlap"], true);  // no_overlap: false, under Config's name
  EXPECT_EQ(s.runs[0].options["sync_bn"], false);
  EXPECT_EQ(names(s), (Args{"pipeline_schedulegpipe-r0", "pipeline_schedule1f1b-r0"}));
}

const char* kData = R"(suite: data
datasets:
  cifar10:
    options: {dataset: cifar10, data_dir: data/cifar10}
    requires_path: data/cifar10
    stand_in:
      options: {dataset: synthetic, synthetic_kind: learnable, image_size: 32}
      note: CIFAR-10 absent, so a stand-in
defaults: {image_size: 128, batch_size: 32}
grid:
  dataset: [synthetic, cifar10]
)";

TEST(Suite, NamedDatasetUsesItsPathWhenPresent) {
  const Suite s = load_suite(kData, "d.yaml", permissive(true));
  EXPECT_EQ(names(s), (Args{"synthetic-r0", "cifar10-r0"}));
  const SuiteRun& c = s.runs[1];
  // No strategy in the suite: train's default, said out loud so the report can group by it.
  EXPECT_EQ(c.args, (Args{"--image-size", "128", "--batch-size", "32", "--strategy", "single",
                          "--dataset", "cifar10", "--data-dir", "data/cifar10"}));
  EXPECT_EQ(c.note, "");
  EXPECT_EQ(c.axes, (nlohmann::json{{"dataset", "cifar10"}}));
  EXPECT_EQ(s.runs[0].args, (Args{"--image-size", "128", "--batch-size", "32", "--strategy",
                                  "single", "--dataset", "synthetic"}));
}

TEST(Suite, NamedDatasetFallsBackToItsStandInWhenThePathIsAbsent) {
  std::vector<std::string> asked;
  SuiteChecks checks = permissive(false);
  checks.path_exists = [&](const std::string& p) { return asked.push_back(p), false; };
  const Suite s = load_suite(kData, "d.yaml", checks);
  const SuiteRun& c = s.runs[1];
  EXPECT_EQ(c.name, "cifar10-r0");  // the label keeps the dataset's name
  // The stand-in's options win over the run's own image_size.
  EXPECT_EQ(c.args, (Args{"--image-size", "32", "--batch-size", "32", "--strategy", "single",
                          "--dataset", "synthetic", "--synthetic-kind", "learnable"}));
  EXPECT_EQ(c.options["dataset"], "synthetic");
  EXPECT_EQ(c.note, "CIFAR-10 absent, so a stand-in");
  EXPECT_EQ(asked, (Args{"data/cifar10"}));
}

TEST(Suite, GroupsExpandOnTheirOwnAndStartTheirLabels) {
  const Suite s = load_suite(R"(suite: study
repeats: 1
defaults: {model: resnet50}
groups:
  - name: sweep
    defaults: {strategy: pipeline, nproc: 2, steps: 4}
    grid: {split_size: [3, 5]}
  - name: dp
    description: data parallel
    repeats: 2
    defaults: {steps: 9}
    grid:
      strategy: [single, ddp]
    overrides:
      ddp: {nproc: [2]}
)",
                             "g.yaml", permissive());
  // steps differs between the groups only, so the group name says it; nproc has one value in dp
  // (single leaves it at train's default), so the strategy alone tells dp's runs apart.
  EXPECT_EQ(names(s), (Args{"sweep-split_size3-r0", "sweep-split_size5-r0", "dp-single-r0",
                            "dp-ddp-r0", "dp-single-r1", "dp-ddp-r1"}));
  ASSERT_EQ(s.groups.size(), 2u);
  EXPECT_EQ(s.groups[1].name, "dp");
  EXPECT_EQ(s.groups[1].description, "data parallel");
  EXPECT_EQ(s.runs[0].group, "sweep");
  EXPECT_EQ(s.runs[0].args, (Args{"--model", "resnet50", "--strategy", "pipeline", "--nproc", "2",
                                  "--steps", "4", "--split-size", "3"}));
  EXPECT_EQ(run_named(s, "dp-ddp-r1").args,
            (Args{"--model", "resnet50", "--steps", "9", "--strategy", "ddp", "--nproc", "2"}));
}

TEST(Suite, LabelsAreFolderNames) {
  const Suite s = load_suite(R"(suite: c
grid:
  strategy: [pipeline]
  nproc: [3]
  split_at: ["layer2.0,layer3.0", layer3.0]
  sync_bn: [false]
  overlap: [true, false]
)",
                             "c.yaml", permissive());
  EXPECT_EQ(names(s),
            (Args{"split_atlayer2.0_layer3.0-overlap-r0", "split_atlayer2.0_layer3.0-no_overlap-r0",
                  "split_atlayer3.0-overlap-r0", "split_atlayer3.0-no_overlap-r0"}));
}

TEST(Suite, PresetsAreGptQuickScalingAndSeed) {
  EXPECT_EQ(preset_names(), (Args{"gpt", "quick", "scaling", "seed"}));
  testing::expect_user_error([] { preset_yaml("quik"); }, {"quik", "gpt, quick, scaling, seed"});
}

TEST(Suite, EveryPresetLoadsWithUniqueRunsAndNoOut) {
  for (const auto& name : preset_names()) {
    SCOPED_TRACE(name);
    for (bool present : {false, true}) {
      const Suite s = load_suite(preset_yaml(name), name + ".yaml", permissive(present));
      EXPECT_EQ(s.name, name);
      EXPECT_FALSE(s.description.empty());
      std::set<std::string> seen;
      for (const auto& r : s.runs) {
        EXPECT_TRUE(seen.insert(r.name).second) << r.name;
        EXPECT_EQ(std::count(r.args.begin(), r.args.end(), "--out"), 0);
      }
    }
  }
}

TEST(Suite, QuickRunsEveryStrategyButHybridWithRepeatsAndSweeps) {
  const Suite s = load_suite(preset_yaml("quick"), "quick.yaml", permissive());
  std::set<std::string> strategies, split_sizes, ddp_nproc;
  for (const auto& r : s.runs) {
    strategies.insert(r.options["strategy"].get<std::string>());
    if (r.options.contains("split_size")) split_sizes.insert(r.options["split_size"].dump());
    if (r.options["strategy"] == "ddp") ddp_nproc.insert(r.options["nproc"].dump());
    EXPECT_GT(r.options["target_accuracy"].get<double>(), 0);
    EXPECT_EQ(r.options["stop_at_target"], false);  // every curve whole
  }
  EXPECT_GE(strategies.size(), 5u);
  EXPECT_EQ(strategies.count("hybrid"), 0u);
  EXPECT_GE(split_sizes.size(), 3u);
  EXPECT_EQ(ddp_nproc, (std::set<std::string>{"1", "2"}));
  EXPECT_EQ(s.repeats, 2);
}

TEST(Suite, QuickTrainsOnAFashionMnistSubsetElseTheSyntheticStandIn) {
  // Fashion-MNIST installed: its first 1200 training and 1000 test images, no note.
  for (const auto& r : load_suite(preset_yaml("quick"), "quick.yaml", permissive(true)).runs) {
    EXPECT_EQ(r.options["dataset"], "fashion-mnist") << r.name;
    EXPECT_EQ(r.options["train_subset"], 1200) << r.name;
    EXPECT_EQ(r.options["test_subset"], 1000) << r.name;
    EXPECT_EQ(r.note, "") << r.name;
  }
  // Absent: learnable synthetic images, and each run says why.
  for (const auto& r : load_suite(preset_yaml("quick"), "quick.yaml", permissive(false)).runs) {
    EXPECT_EQ(r.options["dataset"], "synthetic") << r.name;
    EXPECT_EQ(r.options["synthetic_kind"], "learnable") << r.name;
    EXPECT_FALSE(r.options.contains("train_subset")) << r.name;
    EXPECT_NE(r.note.find("Fashion-MNIST absent"), std::string::npos) << r.name;
  }
}

TEST(Suite, SeedSweepsTheStudysSplitSizesAndUsesTheStandIn) {
  const Suite s = load_suite(preset_yaml("seed"), "seed.yaml", permissive(false));
  std::vector<int> sweep;
  for (const auto& r : s.runs) {
    if (r.group == "sweep") sweep.push_back(r.options["split_size"].get<int>());
    if (r.axes.value("dataset", "") == "cifar10") {
      EXPECT_EQ(r.options["dataset"], "synthetic") << r.name;
      EXPECT_NE(r.note.find("stand-in"), std::string::npos) << r.name;
    }
  }
  EXPECT_EQ(sweep, (std::vector<int>{1, 3, 5, 8, 10, 12, 20, 40, 60}));
}

}  // namespace
}  // namespace parallax
