// A gpt's tensors under Hugging Face GPT2LMHeadModel's names and shapes: "transformer." before the
// blocks' own names ("embed." and "head." dropped), the Linear weights inside "h.*" transposed to
// GPT-2's Conv1D layout ([in, out]), and "lm_head.weight", the token embedding it is tied to.
#pragma once
#include <torch/nn/module.h>

#include <string>
#include <utility>
#include <vector>

namespace parallax {

// "embed.wte.weight" -> "transformer.wte.weight", "h.0.ln_1.bias" -> "transformer.h.0.ln_1.bias",
// "head.ln_f.weight" -> "transformer.ln_f.weight".
std::string gpt2_name(const std::string& name);

// Every parameter, in GPT2LMHeadModel.state_dict()'s order, as a view of the model's own tensor
// (a Conv1D weight is the Linear weight's transpose, so copying into it loads the Linear), then
// "lm_head.weight": the token embedding's weight itself.
std::vector<std::pair<std::string, torch::Tensor>> gpt2_state(const torch::nn::Module& model);

// GPT2LMHeadModel's head, tied to "transformer.wte.weight".
inline constexpr const char* kGpt2Head = "lm_head.weight";
inline constexpr const char* kGpt2Embedding = "transformer.wte.weight";

// Keys a GPT-2 state dict may hold that carry no weights: the causal mask buffers ("h.0.attn.bias",
// "h.0.attn.masked_bias") that transformers before 4.27 saved with the model.
bool is_gpt2_mask_buffer(const std::string& name);

}  // namespace parallax
