// Suites: every validation error names its file and line, and says what to do.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "suite/suite.h"
#include "unit/suite/suite_test_util.h"

namespace parallax {
namespace {

using testing::Args;
using testing::expect_error;
using testing::permissive;

TEST(Suite, NamedDatasetWithoutStandInNeedsItsPath) {
  expect_error(R"(suite: data
datasets:
  mnist:
    options: {dataset: mnist}
    requires_path: data/mnist
grid: {dataset: [mnist]}
)",
               {"t.yaml:5:", "needs data/mnist", "absent"});
}

TEST(Suite, UnknownTopLevelKeyNamesItsLine) {
  expect_error("suite: x\n\ngird:\n  nproc: [1]\n", {"t.yaml:3:", "'gird'", "did you mean grid"});
  expect_error("suite: x\ngroups:\n  - name: a\n    grids: {nproc: [1]}\n",
               {"t.yaml:4:", "'grids'", "did you mean grid"});
}

TEST(Suite, UnknownOptionSuggestsTheClosest) {
  expect_error("suite: x\ngrid:\n  strategy: [pipeline]\n  split_sise: [8]\n",
               {"t.yaml:4:", "unknown option 'split_sise'; did you mean split-size?"});
  expect_error("suite: x\ndefaults:\n  colour: red\n",
               {"t.yaml:3:", "unknown option 'colour'", "parallax train --help"});
}

TEST(Suite, OutAndResumeBelongToTheRunner) {
  expect_error("suite: x\ndefaults:\n  model: resnet20\n  out: runs/a\n",
               {"t.yaml:4:", "'out' cannot be set in a suite"});
  expect_error("suite: x\ngrid:\n  resume: [runs/a]\n", {"t.yaml:3:", "'resume'"});
}

TEST(Suite, OverrideForAStrategyNotInTheGrid) {
  expect_error("suite: x\ngrid:\n  strategy: [ddp]\noverrides:\n  hybrid: {dp: [2]}\n",
               {"t.yaml:5:", "strategy 'hybrid'", "grid does not run"});
}

TEST(Suite, EmptyGridList) {
  expect_error("suite: x\ngrid:\n  strategy: [ddp]\n  nproc: []\n",
               {"t.yaml:4:", "'nproc' has an empty list"});
}

TEST(Suite, ABadValueNamesTheLineOfThatValue) {
  // The run is refused by train's own checks ("--batch-size 0: ..."): the error points at the
  // batch size's line, not at the strategy the run came from.
  SuiteChecks checks = permissive();
  checks.check_run = [](const Args& args) {
    for (size_t i = 0; i + 1 < args.size(); ++i)
      if (args[i] == "--batch-size" && args[i + 1] == "0")
        throw UserError("--batch-size 0: must be at least 1");
  };
  expect_error("suite: x\ngrid:\n  strategy: [single]\n  batch_size: [0]\n",
               {"t.yaml:4:", "--batch-size 0"}, checks);
}

// A value from defaults: (the suite's or a group's), grid: or overrides: is named at its own
// line, not at the grid's strategy line the run came from.
TEST(Suite, EachBadValueIsNamedAtItsOwnLineWhereverItIsSet) {
  SuiteChecks checks = permissive();
  checks.check_run = [](const Args& args) {
    for (size_t i = 0; i + 1 < args.size(); ++i)
      if ((args[i] == "--batch-size" || args[i] == "--epochs") && args[i + 1] == "0")
        throw UserError(args[i] + " 0: must be at least 1");
  };
  const std::string defaults = R"(suite: x
description: defaults first
repeats: 1
defaults:
  model: resnet20
  epochs: 2
  batch_size: 0
  lr: 0.1
grid:
  nproc: [1]
  image_size: [16]
  strategy: [single, ddp]
)";
  expect_error(defaults, {"t.yaml:7:", "--batch-size 0"}, checks);
  // A group's own defaults, and an override's value.
  expect_error(R"(suite: x
defaults:
  batch_size: 8
groups:
  - name: g
    defaults:
      epochs: 0
    grid:
      strategy: [single]
)",
               {"t.yaml:7:", "--epochs 0"}, checks);
  expect_error(R"(suite: x
defaults:
  batch_size: 8
grid:
  strategy: [single, ddp]
overrides:
  ddp:
    epochs: [2, 0]
)",
               {"t.yaml:8:", "--epochs 0"}, checks);
  // A group's default replaces the suite's, and is named at its own line.
  expect_error(R"(suite: x
defaults:
  epochs: 2
groups:
  - name: g
    defaults:
      epochs: 0
    grid:
      strategy: [single]
)",
               {"t.yaml:7:", "--epochs 0"}, checks);
  // The grid's value wins over the default it replaces, and is named at its line.
  expect_error(R"(suite: x
defaults:
  batch_size: 8
grid:
  strategy: [single]
  batch_size: [0]
)",
               {"t.yaml:6:", "--batch-size 0"}, checks);
}

TEST(Suite, RepeatsBelowOne) {
  expect_error("suite: x\nrepeats: 0\n", {"t.yaml:2:", "repeats", "1 or more"});
  expect_error("suite: x\nrepeats: two\n", {"t.yaml:2:", "repeats"});
}

TEST(Suite, YamlSyntaxErrorNamesItsLine) {
  expect_error("suite: x\ngrid:\n  strategy: [ddp\n  nproc: [1]\nrepeats: 1\n",
               {"t.yaml:", "YAML syntax error"});
  expect_error("suite: x\ndefaults:\n  model: resnet20\n epochs: 3\n",
               {"t.yaml:4:", "YAML syntax error"});
}

TEST(Suite, DuplicateRunName) {
  expect_error("suite: x\ngrid:\n  strategy: [single]\n  nproc: [1, 1]\n",
               {"t.yaml:3:", "run 'single-r0' comes twice"});
}

TEST(Suite, BadValuesAndShapes) {
  expect_error("suite: x\ndefaults:\n  no-augment: maybe\n", {"t.yaml:3:", "true or false"});
  expect_error("suite: x\ndefaults:\n  nproc: [1, 2]\n", {"t.yaml:3:", "lists go under grid"});
  expect_error("suite: x\ndefaults:\n  epochs:\n", {"t.yaml:3:", "'epochs' has no value"});
  expect_error("repeats: 2\n", {"t.yaml:1:", "no suite name"});
  expect_error("suite: x\ngrid: {nproc: [1]}\nexclude:\n  - {nproc: 3}\n",
               {"t.yaml:4:", "matches no run"});
  expect_error("suite: x\ngrid: {nproc: [1]}\nexclude:\n  - {nproc: 1}\n", {"no runs"});
  expect_error("suite: a/b\n", {"t.yaml:1:", "folder name"});
}

TEST(Suite, CheckRunRejectionNamesTheLineAndTheRun) {
  SuiteChecks checks = permissive();
  checks.check_run = [](const Args& args) {
    if (std::find(args.begin(), args.end(), "hybrid") != args.end())
      throw UserError("--dp 2 x --pp 2 = 4 ranks, but the world has 2; give --nproc 4");
  };
  expect_error(R"(suite: x
grid:
  strategy: [ddp, hybrid]
  nproc: [2]
overrides:
  hybrid: {dp: [2], pp: [2]}
)",
               {"t.yaml:6: run hybrid: --dp 2 x --pp 2 = 4 ranks"}, checks);
}

TEST(Suite, FileIsReadOrNamed) {
  testing::TempDir dir;
  { std::ofstream(dir / "s.yaml") << "suite: s\ngrid: {nproc: [2]}\n"; }
  const Suite s = load_suite_file(dir / "s.yaml", permissive());
  EXPECT_EQ(s.file, dir / "s.yaml");
  EXPECT_EQ(s.runs.size(), 1u);
  testing::expect_user_error([&] { load_suite_file(dir / "none.yaml", permissive()); },
                             {dir / "none.yaml", "cannot read"});
  testing::expect_user_error(
      [&] { load_suite("suite: s\ngrid: {nproc: x]\n", dir / "b.yaml", permissive()); },
      {dir / "b.yaml:"});
}

}  // namespace
}  // namespace parallax
