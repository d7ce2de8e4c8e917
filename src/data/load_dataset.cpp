// Dataset dispatch by name, with the fix for a missing folder spelled out per dataset.
#include "data/load_dataset.h"

#include <filesystem>

#include "config/user_error.h"
#include "data/cifar10.h"
#include "data/idx.h"
#include "data/synthetic.h"
#include "data/text_corpus.h"

namespace parallax {

std::string default_data_dir(const std::string& dataset) {
  if (dataset == "cifar10") return "data/cifar10";
  if (dataset == "fashion-mnist") return PARALLAX_DEFAULT_FASHION_MNIST_DIR;
  if (dataset == "mnist") return "data/mnist";
  if (dataset == "shakespeare") return default_shakespeare_dir();
  return "";
}

bool is_text_dataset(const std::string& dataset) {
  return dataset == "shakespeare" || dataset == "text" || dataset == "synthetic-text";
}

Dataset load_dataset(const Config& cfg, int64_t context) {
  if (is_text_dataset(cfg.dataset)) {
    TextSpec spec;
    spec.dataset = cfg.dataset;
    spec.path = cfg.data_dir;
    spec.context = context;
    spec.train_windows = cfg.text_windows;
    spec.eval_windows = cfg.eval_windows;
    spec.kind = cfg.synthetic_kind;
    spec.vocab = cfg.vocab;
    spec.synthetic_train = cfg.synthetic_train;
    spec.synthetic_test = cfg.synthetic_test;
    spec.seed = cfg.seed;
    return load_text_dataset(spec);
  }
  if (cfg.dataset == "synthetic") {
    SyntheticSpec spec;
    spec.kind = cfg.synthetic_kind;
    spec.train = cfg.synthetic_train;
    spec.test = cfg.synthetic_test;
    spec.image_size = cfg.image_size;
    spec.channels = cfg.channels;
    spec.classes = cfg.classes;
    spec.seed = cfg.seed;
    return make_synthetic(spec);
  }
  const std::string dir = cfg.data_dir.empty() ? default_data_dir(cfg.dataset) : cfg.data_dir;
  if (!std::filesystem::is_directory(dir)) {
    std::string fix = "give --data-dir with the " + cfg.dataset + " files";
    if (cfg.dataset == "cifar10") fix = "run `parallax data download cifar10 --dir " + dir + "`";
    if (cfg.dataset == "fashion-mnist") fix += ", or `apt-get install dataset-fashion-mnist`";
    throw UserError("--data-dir " + dir + ": no such folder; " + fix);
  }
  Dataset d = cfg.dataset == "cifar10" ? read_cifar10(dir) : read_idx_dataset(dir, cfg.dataset);
  // A fixed subset: the files' first N images (as torch.utils.data.Subset(range(N))).
  auto keep_first = [&](Split& split, int64_t n, const char* option, const char* which) {
    if (n <= 0) return;
    if (n > split.size())
      throw UserError(std::string(option) + " " + std::to_string(n) + ": " + cfg.dataset +
                      " has only " + std::to_string(split.size()) + " " + which +
                      " images; give at most that, or 0 for all");
    split.images = split.images.narrow(0, 0, n).clone();  // the rest is freed
    split.labels = split.labels.narrow(0, 0, n).clone();
  };
  keep_first(d.train, cfg.train_subset, "--train-subset", "training");
  keep_first(d.test, cfg.test_subset, "--test-subset", "test");
  if (cfg.train_subset > 0 || cfg.test_subset > 0)
    d.source += " (first " + std::to_string(d.train.size()) + " training, " +
                std::to_string(d.test.size()) + " test images)";
  return d;
}

}  // namespace parallax
