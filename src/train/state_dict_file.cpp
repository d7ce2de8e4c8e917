// State dict files through LibTorch's pickler (torch.save's zip format, readable by torch.load).
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

}  // namespace

void save_state_dict_file(const ModelBlocks& model, const std::string& path) {
  save_tensor_dict_file(torchvision_state(model), path);
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
  const auto mine = torchvision_state(model);
  for (const auto& [name, tensor] : mine) {
    auto it = file.find(name);
    if (it == file.end())
      throw UserError("--init-from " + path + ": no tensor '" + name + "', which the model " +
                      "needs; give a state dict of the same model (torchvision's names)");
    if (it->second.sizes() != tensor.sizes())
      throw UserError("--init-from " + path + ": tensor '" + name + "' has shape " +
                      shape_of(it->second) + ", the model's is " + shape_of(tensor) +
                      "; give weights of the same model and class count (--classes)");
  }
  if (file.size() != mine.size()) {
    std::map<std::string, bool> known;
    for (const auto& item : mine) known[item.first] = true;
    for (const auto& item : file)
      if (!known.count(item.first))
        throw UserError("--init-from " + path + ": tensor '" + item.first + "' is not in the " +
                        "model; give a state dict of the same model (torchvision's names)");
  }
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : mine) tensor.copy_(file.at(name));
}

}  // namespace parallax
