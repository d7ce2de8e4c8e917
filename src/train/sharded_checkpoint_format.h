// The names of a sharded checkpoint's files and index fields (train/sharded_checkpoint.h): its
// folders and rank files, how a piece's cut and dtype are written, and the shape its stored bytes
// have.
#pragma once
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <vector>

#include "parallel/state_pieces.h"

namespace parallax {

inline constexpr const char* kShardedCheckpointFormat = "parallax sharded checkpoint";

std::string dtype_name(at::ScalarType t);
at::ScalarType dtype_of(const std::string& name, const std::string& file);  // UserError if unknown
const char* cut_name(StatePiece::Cut c);
StatePiece::Cut cut_of(const std::string& name, const std::string& file);  // UserError if unknown
// The shape of a piece's elements as its writer held them (and as they are stored).
std::vector<int64_t> piece_shape(const StatePiece& p);
// "checkpoint/step-000000123": a save's folder, under the run's.
std::string folder_name(int64_t step);
// FOLDER/rank<R><ext>: a rank's bytes (.bin) or index (.json).
std::string rank_file(const std::string& folder, int rank, const char* ext);

}  // namespace parallax
