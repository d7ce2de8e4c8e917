// PyTorch state dict files: what torch.save(model.state_dict()) writes and torch.load reads, with
// torchvision's names, or Hugging Face GPT2LMHeadModel's for a gpt (`parallax export`,
// `train --init-from`).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace at {
class Tensor;
}

namespace parallax {

class ModelBlocks;

// The model's parameters and buffers as a dict of CPU tensors, written atomically: in Python,
// torchvision.models.resnet50(num_classes=10).load_state_dict(torch.load(path)) loads it strictly
// (torchvision-layout models), and so does transformers.GPT2LMHeadModel(GPT2Config(...)) a gpt's
// (Conv1D weights transposed, "lm_head.weight" the token embedding). Returns the tensors written.
size_t save_state_dict_file(const ModelBlocks& model, const std::string& path);

// Any named tensors in the same format (a plain dict of CPU tensors).
void save_tensor_dict_file(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                           const std::string& path);

// Copies a state dict file's tensors into the model (its dtype and memory format kept). UserError,
// in one line naming the tensor, for a name the model lacks or lacks in the file, or a shape
// that differs; and for a file that is not a state dict. A gpt reads GPT2LMHeadModel's state dict
// (or GPT2Model's, without "transformer." and the head; older transformers' causal mask buffers
// are skipped), whose "lm_head.weight" must equal its token embedding.
void load_state_dict_file(const std::string& path, ModelBlocks& model);

}  // namespace parallax
