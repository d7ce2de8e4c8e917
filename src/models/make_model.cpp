// make_model: ResNet or ViT by name.
#include "models/make_model.h"

#include "models/vit.h"

namespace parallax {

std::shared_ptr<ModelBlocks> make_model(const ModelSpec& spec) {
  if (spec.name.rfind("vit", 0) == 0)
    return make_vit(vit_spec(spec.name, spec.image_size, spec.in_channels, spec.classes));
  return make_resnet(spec);
}

}  // namespace parallax
