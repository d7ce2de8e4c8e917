// SplitLayers::split_attention, shared by every transformer's attention.
#include "models/split_layers.h"

#include <string>

#include "config/user_error.h"

namespace parallax {

std::shared_ptr<SplitLayers> whole_layers() {
  static const auto whole = std::make_shared<SplitLayers>();
  return whole;
}

int64_t SplitLayers::split_attention(torch::nn::Linear& qkv, torch::nn::Linear& proj,
                                     int64_t heads) {
  if (heads % degree() != 0)
    throw UserError("--tp " + std::to_string(degree()) + ": " + std::to_string(heads) +
                    " attention heads do not split over " + std::to_string(degree()) +
                    " ranks; give a --tp that divides them");
  shard_output_features(qkv, 3);
  shard_input_features(proj);
  return heads / degree();
}

}  // namespace parallax
