// The real launchers for tests: torchrun from the repository's .venv (PyPI torch), Open MPI's
// mpirun and Slurm's srun, each found or skipped with the reason; and two runs' models compared.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "distributed/launcher.h"
#include "distributed/torch_compat.h"
#include "models/resnet.h"
#include "test_paths.h"
#include "train/checkpoint.h"
#include "test_util.h"

namespace parallax::testing {

// The torchrun of the torch this binary was built against: its agent's rendezvous store speaks
// that torch's wire protocol (LibTorch 1.13's TCPStore client cannot talk to a 2.x store). For
// Debian's LibTorch 1.13, Debian's own (python3-torch), given a --redirects/--tee mapping for a
// local rank that does not exist: its default "0" crashes on Python 3.11 (Std.from_str returns
// None). For 2.x, PyPI torch's in .venv. Empty when it is not installed.
inline std::string torchrun_path() {
  const bool debian = std::string(compat::torch_version()).rfind("1.", 0) == 0;
  const std::string path = debian ? "/usr/bin/torchrun"
                                  : std::string(PARALLAX_SOURCE_DIR) + "/.venv/bin/torchrun";
  if (!std::filesystem::exists(path)) return "";
  return debian ? path + " --redirects 9:0 --tee 9:0" : path;
}

inline std::string venv_python() {
  const std::string p = std::string(PARALLAX_SOURCE_DIR) + "/.venv/bin/python";
  return std::filesystem::exists(p) ? p : "";
}

// Skips the test, saying why and how to get what is missing.
#define PARALLAX_NEED_TORCHRUN()                                                              \
  if (::parallax::testing::torchrun_path().empty())                                          \
  GTEST_SKIP() << "no torchrun of LibTorch " << ::parallax::compat::torch_version()           \
               << ": scripts/install-deps.sh installs Debian's (python3-torch) for 1.13, and "  \
                  "scripts/install-deps.sh --torch2 PyPI torch's into .venv for 2.x"

inline bool on_path(const std::string& program) {
  return run_command("command -v " + program + " >/dev/null").exit_code == 0;
}

// Every parameter and buffer of a run's checkpointed resnet20 (with BatchNorm), either format.
inline std::vector<torch::Tensor> model_tensors_of(const std::string& run_dir) {
  auto model = make_resnet({"resnet20", 3, 10, true});
  if (latest_checkpoint_is_sharded(run_dir)) {
    load_sharded_model(run_dir, *model);
  } else {
    torch::serialize::InputArchive archive, model_archive;
    archive.load_from(run_dir + "/checkpoint.pt", torch::kCPU);
    archive.read("model", model_archive);
    model->load(model_archive);
  }
  auto tensors = model->parameters();
  for (const auto& b : model->buffers()) tensors.push_back(b);
  return tensors;
}

// How many of the two runs' tensors differ in any bit (0: the same model, bitwise).
inline int tensors_differing(const std::string& a, const std::string& b) {
  const auto ta = model_tensors_of(a), tb = model_tensors_of(b);
  EXPECT_EQ(ta.size(), tb.size());
  int differing = 0;
  for (size_t i = 0; i < std::min(ta.size(), tb.size()); ++i)
    differing += torch::equal(ta[i], tb[i]) ? 0 : 1;
  return differing;
}

}  // namespace parallax::testing
