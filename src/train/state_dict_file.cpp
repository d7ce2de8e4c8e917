// State dict files through LibTorch's pickler (torch.save's zip format, readable by torch.load), in
// torchvision's layout for image models and Hugging Face GPT-2's for a gpt.
#include "train/state_dict_file.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/csrc/jit/serialization/unpickler.h>
#include <torch/torch.h>

#include <map>
#include <stdexcept>

#include "config/user_error.h"
#include "metrics/atomic_file.h"
#include "models/blocks.h"
#include "models/gpt2_names.h"
#include "models/torchvision_names.h"
#include "train/python_pickle.h"

namespace parallax {
namespace {

std::string first_line_of(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  const std::string what = c10_error ? c10_error->what_without_backtrace() : e.what();
  return what.substr(0, std::min(what.find('\n'), size_t{160}));
}

std::string shape_of(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// torch.save's zip archive: data.pkl (the pickle) and data/<key> (each storage's bytes).
torch::IValue unpickle_state_dict(const std::string& path) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
  try {
    zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error&) {
    throw UserError("--init-from " + path + ": not a zip archive torch.save wrote (a file saved " +
                    "before PyTorch 1.6? load it and torch.save it again)");
  }
  try {
    auto [bytes, size] = zip->getRecord("data.pkl");
    const std::string pickle =
        pickle_without_ordered_dicts(std::string(static_cast<const char*>(bytes.get()), size));
    size_t at = 0;
    torch::jit::Unpickler unpickler(
        [&](char* buffer, size_t n) {
          n = std::min(n, pickle.size() - at);
          std::memcpy(buffer, pickle.data() + at, n);
          at += n;
          return n;
        },
        nullptr, nullptr,
        [&](const std::string& key) { return std::get<0>(zip->getRecord("data/" + key)); }, {});
    return unpickler.parse_ivalue();
  } catch (const std::exception& e) {
    throw UserError("--init-from " + path + ": not a state dict torch.save wrote (" +
                    first_line_of(e) + "); save it with torch.save(model.state_dict(), path)");
  }
}

std::map<std::string, torch::Tensor> read_tensors(const std::string& path) {
  const torch::IValue value = unpickle_state_dict(path);
  if (!value.isGenericDict())
    throw UserError("--init-from " + path + ": holds a " + value.tagKind() +
                    ", not a state dict; save model.state_dict(), not the model");
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : value.toGenericDict()) {
    if (!item.key().isString() || !item.value().isTensor())
      throw UserError("--init-from " + path + ": an entry that is not a named tensor; save " +
                      "model.state_dict()");
    tensors[item.key().toStringRef()] = item.value().toTensor();
  }
  return tensors;
}

// The names and shapes a model's tensors have in the file: whose convention, and what must match.
struct FileLayout {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;  // views of the model's own
  std::string names;  // whose names, for messages
  std::string same;   // what a mismatched shape says to keep the same
};

FileLayout file_layout(const ModelBlocks& model) {
  if (model.token_input())
    return {gpt2_state(model), "Hugging Face GPT2LMHeadModel's names",
            "the same --layers, --width, --context and vocabulary"};
  return {torchvision_state(model), "torchvision's names",
          "the same model and class count (--classes)"};
}

// A GPT-2 file as GPT2LMHeadModel's state dict: GPT2Model's (no "transformer." prefix, no head)
// gets both, and the weightless causal mask buffers of older transformers versions are dropped.
// The head must be the token embedding: parallax's gpt ties them, as GPT-2 does.
void as_gpt2_lm_head_model(std::map<std::string, torch::Tensor>& file, const std::string& path) {
  if (!file.count(kGpt2Embedding) && file.count("wte.weight")) {
    std::map<std::string, torch::Tensor> prefixed;
    for (auto& [name, tensor] : file) prefixed["transformer." + name] = tensor;
    file = std::move(prefixed);
    if (!file.count(kGpt2Head)) file[kGpt2Head] = file[kGpt2Embedding];
  }
  for (auto it = file.begin(); it != file.end();)
    it = is_gpt2_mask_buffer(it->first) ? file.erase(it) : std::next(it);
  const auto head = file.find(kGpt2Head), embedding = file.find(kGpt2Embedding);
  if (head != file.end() && embedding != file.end() &&
      head->second.sizes() == embedding->second.sizes() &&
      !torch::equal(head->second, embedding->second))
    throw UserError("--init-from " + path + ": tensor '" + kGpt2Head + "' differs from '" +
                    kGpt2Embedding + "'; parallax's gpt ties its head to the token embedding " +
                    "(as GPT-2 does), so give a model whose two are one");
}

}  // namespace

size_t save_state_dict_file(const ModelBlocks& model, const std::string& path) {
  // A gpt's head and embedding are one tensor: the pickler writes its storage once, as torch.save.
  const auto tensors = file_layout(model).tensors;
  save_tensor_dict_file(tensors, path);
  return tensors.size();
}

void save_tensor_dict_file(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                           const std::string& path) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, tensor] : tensors)
    dict.insert(name, tensor.detach().to(torch::kCPU).contiguous());
  // torch::pickle_save's archive, but with a plain dict: pickle_save tags it with its C++ type
  // (torch.jit._pickle.restore_type_tag), which torch.load's weights-only unpickler refuses.
  std::vector<char> pickle;
  torch::jit::Pickler pickler(
      [&](const char* data, size_t n) { pickle.insert(pickle.end(), data, data + n); }, nullptr,
      nullptr, nullptr, nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(dict);
  pickler.stop();
  std::vector<char> bytes;
  caffe2::serialize::PyTorchStreamWriter zip([&](const void* data, size_t n) {
    bytes.insert(bytes.end(), static_cast<const char*>(data), static_cast<const char*>(data) + n);
    return n;
  });
  torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(),
                                     zip);
  zip.writeEndOfFile();
  replace_file_atomic(path, [&](const std::string& temp) {
    write_with(temp, path, [&](const Write& write) { write(bytes.data(), bytes.size()); });
  });
}

void load_state_dict_file(const std::string& path, ModelBlocks& model) {
  std::map<std::string, torch::Tensor> file = read_tensors(path);
  const FileLayout layout = file_layout(model);
  const auto& mine = layout.tensors;
  if (model.token_input()) as_gpt2_lm_head_model(file, path);
  for (const auto& [name, tensor] : mine) {
    auto it = file.find(name);
    if (it == file.end())
      throw UserError("--init-from " + path + ": no tensor '" + name + "', which the model " +
                      "needs; give a state dict of the same model (" + layout.names + ")");
    if (it->second.sizes() != tensor.sizes())
      throw UserError("--init-from " + path + ": tensor '" + name + "' has shape " +
                      shape_of(it->second) + ", the model's is " + shape_of(tensor) +
                      "; give weights of " + layout.same);
  }
  if (file.size() != mine.size()) {
    std::map<std::string, bool> known;
    for (const auto& item : mine) known[item.first] = true;
    for (const auto& item : file)
      if (!known.count(item.first))
        throw UserError("--init-from " + path + ": tensor '" + item.first + "' is not in the " +
                        "model; give a state dict of the same model (" + layout.names + ")");
  }
  // A gpt's Conv1D entries are transposed views of its Linear weights: copying into them loads
  // the weights bitwise.
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : mine) tensor.copy_(file.at(name));
}

}  // namespace parallax
