// The model --model names: a ResNet (models/resnet.h), a ViT (models/vit.h) or a GPT
// (models/gpt.h), as a block list.
#pragma once
#include <memory>

#include "config/config.h"
#include "models/blocks.h"
#include "models/resnet.h"

namespace parallax {

// spec.image_size matters to a ViT only (its patches and positions); throws UserError for an
// unknown name.
std::shared_ptr<ModelBlocks> make_model(const ModelSpec& spec);

// The spec a run's config gives, with what its data tells (a gpt's vocabulary is `classes`).
ModelSpec model_spec(const Config& cfg, int64_t channels, int64_t classes, int64_t image_size);

bool is_language_model(const std::string& name);  // gpt-*: takes tokens, predicts the next
// A gpt's context in tokens: the option's, else the named size's.
int64_t context_of(const std::string& name, int64_t context_option);

}  // namespace parallax
