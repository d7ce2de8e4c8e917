// make_model: ResNet or ViT by name.
#include "models/make_model.h"

#include "models/gpt.h"
#include "models/vit.h"

namespace parallax {
namespace {

template <typename S>
void override_sizes(S& s, const ModelSpec& spec) {
  if (spec.layers > 0) s.layers = spec.layers;
  if (spec.heads > 0) s.heads = spec.heads;
  if (spec.width > 0) s.width = spec.width;
  s.dropout = spec.dropout;
}

}  // namespace

ModelSpec model_spec(const Config& cfg, int64_t channels, int64_t classes, int64_t image_size) {
  ModelSpec s;
  s.name = cfg.model;
  s.in_channels = channels;
  s.classes = classes;
  s.batch_norm = cfg.norm == "batch";
  s.image_size = image_size;
  s.layers = cfg.layers;
  s.heads = cfg.heads;
  s.width = cfg.width;
  s.context = context_of(cfg.model, cfg.context);
  s.dropout = cfg.dropout;
  return s;
}

bool is_language_model(const std::string& name) {
  return name.rfind("gpt", 0) == 0;
}

int64_t context_of(const std::string& name, int64_t context_option) {
  if (context_option > 0) return context_option;
  return is_language_model(name) ? gpt_spec(name).context : 0;
}

std::shared_ptr<ModelBlocks> make_model(const ModelSpec& spec) {
  if (spec.name.rfind("vit", 0) == 0) {
    VitSpec s = vit_spec(spec.name, spec.image_size, spec.in_channels, spec.classes);
    override_sizes(s, spec);
    return make_vit(s);
  }
  if (is_language_model(spec.name)) {
    GptSpec s = gpt_spec(spec.name);
    override_sizes(s, spec);
    if (spec.context > 0) s.context = spec.context;
    s.vocab = spec.classes;
    return make_gpt(s);
  }
  return make_resnet(spec);
}

}  // namespace parallax
