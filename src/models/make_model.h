// The model --model names: a ResNet (models/resnet.h) or a ViT (models/vit.h), as a block list.
#pragma once
#include <memory>

#include "models/blocks.h"
#include "models/resnet.h"

namespace parallax {

// spec.image_size matters to a ViT only (its patches and positions); throws UserError for an
// unknown name.
std::shared_ptr<ModelBlocks> make_model(const ModelSpec& spec);

}  // namespace parallax
