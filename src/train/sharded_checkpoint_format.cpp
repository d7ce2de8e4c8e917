// The names of a sharded checkpoint's files and index fields.
#include "train/sharded_checkpoint_format.h"

#include <c10/util/Exception.h>

#include <cstdio>

#include "config/user_error.h"

namespace parallax {

std::string dtype_name(at::ScalarType t) {
  return c10::toString(t);
}

at::ScalarType dtype_of(const std::string& name, const std::string& file) {
  for (auto t : {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16, at::kLong, at::kInt,
                 at::kShort, at::kChar, at::kByte, at::kBool})
    if (name == c10::toString(t)) return t;
  throw UserError(file + ": a tensor of unknown dtype " + name + "; the checkpoint is damaged");
}

const char* cut_name(StatePiece::Cut c) {
  switch (c) {
    case StatePiece::Cut::kWhole:
      return "whole";
    case StatePiece::Cut::kAlongDim:
      return "along_dim";
    case StatePiece::Cut::kFlat:
      return "flat";
  }
  return "whole";
}

StatePiece::Cut cut_of(const std::string& name, const std::string& file) {
  if (name == "whole") return StatePiece::Cut::kWhole;
  if (name == "along_dim") return StatePiece::Cut::kAlongDim;
  if (name == "flat") return StatePiece::Cut::kFlat;
  throw UserError(file + ": a piece cut \"" + name + "\", unknown; the checkpoint is damaged, " +
                  "resume from an earlier copy");
}

// The shape of a piece's elements as its writer held them (and as they are stored).
std::vector<int64_t> piece_shape(const StatePiece& p) {
  switch (p.cut) {
    case StatePiece::Cut::kWhole:
      return p.whole_sizes;
    case StatePiece::Cut::kAlongDim: {
      auto s = p.whole_sizes;
      s[p.dim] = p.length;
      return s;
    }
    case StatePiece::Cut::kFlat:
      return {p.length};
  }
  return p.whole_sizes;
}

std::string folder_name(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "step-%09lld", static_cast<long long>(step));
  return std::string("checkpoint/") + name;
}

std::string rank_file(const std::string& folder, int rank, const char* ext) {
  return folder + "/rank" + std::to_string(rank) + ext;
}

}  // namespace parallax
