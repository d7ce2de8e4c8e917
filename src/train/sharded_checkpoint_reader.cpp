// Reading a sharded checkpoint: the index, a piece's bytes, and the fills by runs, slabs or one
// whole tensor at a time.
#include "train/sharded_checkpoint_reader.h"

#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "config/user_error.h"
#include "train/sharded_checkpoint.h"
#include "train/sharded_checkpoint_format.h"

namespace parallax {
namespace {

nlohmann::json read_json(const std::string& path, const std::string& what_to_do) {
  std::ifstream in(path);
  if (!in) throw UserError(path + ": missing; " + what_to_do);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw UserError(path + ": not JSON (" + e.what() + "); " + what_to_do);
  }
}

}  // namespace

// One stored piece: its coordinates and where its bytes lie.
struct StoredPiece {
  StatePiece piece;  // local unset
  at::ScalarType dtype = at::kFloat;
  int file = 0;
  int64_t offset = 0, bytes = 0;
};

// A complete sharded checkpoint: its metadata and every rank's index.
class ShardedCheckpointFiles {
 public:
  explicit ShardedCheckpointFiles(const std::string& run_dir) : run_dir_(run_dir) {
    const std::string damaged = "the checkpoint is damaged; resume from an earlier copy";
    meta_ = read_json(sharded_checkpoint_path(run_dir), damaged);
    if (meta_.value("format", "") != kShardedCheckpointFormat)
      throw UserError(sharded_checkpoint_path(run_dir) + ": not a " + kShardedCheckpointFormat);
    int ranks = 0;
    try {
      folder_ = run_dir + "/" + meta_.at("folder").get<std::string>();
      ranks = meta_.at("ranks").get<int>();
    } catch (const nlohmann::json::exception& e) {
      throw UserError(sharded_checkpoint_path(run_dir) + ": damaged (" + e.what() + "); " +
                      damaged);
    }
    for (int r = 0; r < ranks; ++r) {
      files_.push_back(rank_file(folder_, r, ".bin"));
      const std::string index_file = rank_file(folder_, r, ".json");
      const auto index = read_json(index_file, damaged);
      try {
        for (const auto& e : index.at("pieces")) {
          StoredPiece s;
          s.piece.key = e.at("key");
          s.piece.whole_sizes = e.at("whole").get<std::vector<int64_t>>();
          s.piece.cut = cut_of(e.at("cut"), index_file);
          s.piece.dim = e.value("dim", 0);
          s.piece.start = e.value("start", 0);
          s.piece.length = e.value("length", 0);
          s.piece.channels_last = e.value("channels_last", false);
          s.dtype = dtype_of(e.at("dtype"), index_file);
          s.file = r;
          s.offset = e.at("offset");
          s.bytes = e.at("bytes");
          check(s, index_file);
          by_key_[s.piece.key].push_back(std::move(s));
        }
      } catch (const nlohmann::json::exception& e) {
        throw UserError(index_file + ": a damaged index (" + e.what() + "); " + damaged);
      }
    }
  }

  const nlohmann::json& meta() const { return meta_; }

  // A stored piece's coordinates lie inside its tensor, its bytes are its elements', and every
  // piece of a tensor agrees on the tensor's sizes; else the index is damaged.
  void check(const StoredPiece& s, const std::string& file) const {
    const auto& p = s.piece;
    int64_t numel = 1;
    bool ok = s.offset >= 0;
    for (int64_t d : p.whole_sizes) {
      ok = ok && d >= 0;
      numel *= d;
    }
    const int64_t dims = static_cast<int64_t>(p.whole_sizes.size());
    if (p.cut == StatePiece::Cut::kAlongDim)
      ok = ok && p.dim >= 0 && p.dim < dims && p.start >= 0 && p.length >= 0 &&
           p.start + p.length <= p.whole_sizes[p.dim];
    if (p.cut == StatePiece::Cut::kFlat)
      ok = ok && p.start >= 0 && p.length >= 0 && p.start + p.length <= numel &&
           (!p.channels_last || dims == 4);
    ok = ok && s.bytes == piece_numel(p) * static_cast<int64_t>(c10::elementSize(s.dtype));
    const auto* others = stored(p.key);
    ok = ok && (!others || others->front().piece.whole_sizes == p.whole_sizes);
    if (!ok)
      throw UserError(file + ": " + p.key + " lies outside its tensor or disagrees with its " +
                      "other pieces; the checkpoint is damaged, resume from an earlier copy");
  }

  // The buffers the load holds only for reading (staging, a tensor put together), as the
  // allocator sized them: held while a Held lives; the most at once is the load's overhead.
  class Held {
   public:
    Held(ShardedCheckpointFiles& ck, const torch::Tensor& t)
        : ck_(ck), bytes_(t.defined() ? storage_bytes({t}) : 0) {
      ck_.held_ += bytes_;
      ck_.most_held_ = std::max(ck_.most_held_, ck_.held_);
    }
    ~Held() { ck_.held_ -= bytes_; }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;

   private:
    ShardedCheckpointFiles& ck_;
    int64_t bytes_;
  };
  int64_t most_held() const { return most_held_; }
  const std::vector<StoredPiece>* stored(const std::string& key) const {
    const auto it = by_key_.find(key);
    return it == by_key_.end() ? nullptr : &it->second;
  }

  // `count` of its elements from element `first` on (in its stored order) into `out` (a host
  // tensor of `count` elements): straight into it where it is contiguous and of the stored dtype.
  void read_into(const StoredPiece& s, int64_t first, int64_t count, const torch::Tensor& out) {
    const int64_t size = static_cast<int64_t>(c10::elementSize(s.dtype));
    const bool direct = out.is_contiguous() && out.scalar_type() == s.dtype && out.is_cpu();
    auto into = direct ? out : torch::empty({count}, torch::TensorOptions().dtype(s.dtype));
    const Held staged(*this, direct ? torch::Tensor() : into);
    auto& in = stream(s.file);
    in.seekg(s.offset + first * size);
    in.read(static_cast<char*>(into.data_ptr()), count * size);
    if (!in || (first + count) * size > s.bytes)
      throw UserError(files_[s.file] + ": " + s.piece.key + " is cut short; the checkpoint " +
                      "is damaged, resume from an earlier copy");
    if (!direct) out.copy_(into.view(out.sizes()));
  }

  // The whole tensor stored under `key`, put together from its pieces.
  torch::Tensor whole(const std::string& key) {
    const auto& pieces = *stored(key);
    const auto& first = pieces.front().piece;
    bool nhwc = false;
    for (const auto& s : pieces) nhwc |= s.piece.channels_last;
    auto opts = torch::TensorOptions().dtype(pieces.front().dtype);
    if (nhwc) opts = opts.memory_format(at::MemoryFormat::ChannelsLast);
    auto whole = torch::empty(first.whole_sizes, opts);
    const Held held(*this, whole);
    int64_t covered = 0;
    for (const auto& s : pieces) {
      const int64_t n = piece_numel(s.piece);
      auto part = part_of(whole, s.piece);
      // Every piece of one tensor is cut one way (one writer), so part_of gives a view here.
      if (!part.is_alias_of(whole))
        throw UserError(folder_ + ": " + key + " has pieces in two orders; the checkpoint is " +
                        "damaged, resume from an earlier copy");
      if (part.is_contiguous()) {
        read_into(s, 0, n, part.view({-1}));
      } else {
        auto staged = torch::empty(piece_shape(s.piece), opts.memory_format(at::MemoryFormat::Contiguous));
        const Held held(*this, staged);
        read_into(s, 0, n, staged.view({-1}));
        part.copy_(staged);
      }
      covered += n;
    }
    if (covered != whole.numel())
      throw UserError(folder_ + ": " + key + " holds " + std::to_string(covered) + " of its " +
                      std::to_string(whole.numel()) + " elements; a rank's file is missing or " +
                      "damaged, resume from an earlier copy");
    return whole;
  }

 private:
  std::ifstream& stream(int file) {
    auto& s = streams_[file];
    if (!s) {
      s = std::make_unique<std::ifstream>(files_[file], std::ios::binary);
      if (!*s) throw UserError(files_[file] + ": missing; the checkpoint is damaged, resume " +
                               "from an earlier copy");
    }
    return *s;
  }

  std::string run_dir_, folder_;
  nlohmann::json meta_;
  std::vector<std::string> files_;
  std::map<std::string, std::vector<StoredPiece>> by_key_;
  std::map<int, std::unique_ptr<std::ifstream>> streams_;
  int64_t held_ = 0, most_held_ = 0;
};

namespace {

// A piece as a run of elements of the whole in one order (row-major, or NHWC): a whole tensor,
// a flat part, or a part along dim 0 (contiguous in row-major order). Nullopt for another cut.
struct Run {
  bool nhwc = false;
  int64_t start = 0, length = 0;
};
std::optional<Run> run_of(const StatePiece& p) {
  int64_t inner = 1;
  for (size_t d = 1; d < p.whole_sizes.size(); ++d) inner *= p.whole_sizes[d];
  switch (p.cut) {
    case StatePiece::Cut::kWhole:
      return Run{false, 0, p.whole_sizes.empty() ? 1 : inner * p.whole_sizes[0]};
    case StatePiece::Cut::kFlat:
      return Run{p.channels_last, p.start, p.length};
    case StatePiece::Cut::kAlongDim:
      if (p.dim != 0) return std::nullopt;
      return Run{false, p.start * inner, p.length * inner};
  }
  return std::nullopt;
}

// Fills `target` from the stored runs that overlap it, each overlap read straight into place:
// no more is read than the target holds. False where a piece is not such a run.
bool fill_by_runs(ShardedCheckpointFiles& ck, const std::vector<StoredPiece>& stored, StatePiece& target,
                  const std::string& shown) {
  const auto want = run_of(target);
  if (!want) return false;
  std::vector<Run> runs;
  for (const auto& s : stored) {
    const auto r = run_of(s.piece);
    if (!r || r->nhwc != want->nhwc) return false;
    runs.push_back(*r);
  }
  // Where the elements land: the target itself, or a row-major host copy of it to copy from.
  const auto& local = target.local;
  const bool in_place = local.is_cpu() && local.is_contiguous();
  const auto dest = in_place ? local.view({-1})
                             : torch::empty({want->length}, local.options().device(torch::kCPU)
                                                               .memory_format(at::MemoryFormat::Contiguous));
  const ShardedCheckpointFiles::Held held(ck, in_place ? torch::Tensor() : dest);
  int64_t covered = 0;
  for (size_t i = 0; i < stored.size(); ++i) {
    const int64_t lo = std::max(want->start, runs[i].start);
    const int64_t hi = std::min(want->start + want->length, runs[i].start + runs[i].length);
    if (lo >= hi) continue;
    ck.read_into(stored[i], lo - runs[i].start, hi - lo, dest.narrow(0, lo - want->start, hi - lo));
    covered += hi - lo;
  }
  if (covered != want->length)
    throw UserError(shown + ": " + target.key + " has " + std::to_string(covered) + " of the " +
                    std::to_string(want->length) + " elements this rank needs; a rank's file is " +
                    "missing or damaged, resume from an earlier copy");
  // (A run in NHWC order is a flat part, whose local is one-dimensional like dest.)
  if (!in_place) local.copy_(dest.view(local.sizes()));
  return true;
}

// Fills `target` from stored pieces that are all slices along one dimension d (or whole, the
// full range along it), as the target is: for each overlap, each of its rows of the dimensions
// before d is read straight into place (tensor-parallel rows and columns to another degree, or
// to or from whole tensors). False where the pieces are not such slices.
bool fill_by_slabs(ShardedCheckpointFiles& ck, const std::vector<StoredPiece>& stored, StatePiece& target,
                   const std::string& shown) {
  using Cut = StatePiece::Cut;
  int64_t d = target.cut == Cut::kAlongDim ? target.dim : -1;
  for (const auto& s : stored) {
    if (s.piece.cut == Cut::kFlat) return false;
    if (s.piece.cut == Cut::kWhole) continue;
    if (d < 0) d = s.piece.dim;
    if (s.piece.dim != d) return false;
  }
  if (target.cut == Cut::kFlat || d < 0) return false;
  const auto& sizes = target.whole_sizes;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= sizes[i];
  for (size_t i = d + 1; i < sizes.size(); ++i) inner *= sizes[i];
  const auto range = [&](const StatePiece& p) {
    return p.cut == Cut::kWhole ? std::pair<int64_t, int64_t>{0, sizes[d]}
                                : std::pair<int64_t, int64_t>{p.start, p.length};
  };
  const auto [t_start, t_length] = range(target);
  const auto& local = target.local;
  const bool in_place = local.is_cpu() && local.is_contiguous();
  const auto dest = in_place ? local.view({-1})
                             : torch::empty({local.numel()}, local.options().device(torch::kCPU)
                                                                  .memory_format(at::MemoryFormat::Contiguous));
  const ShardedCheckpointFiles::Held held(ck, in_place ? torch::Tensor() : dest);
  int64_t covered = 0;
  for (const auto& s : stored) {
    const auto [s_start, s_length] = range(s.piece);
    const int64_t lo = std::max(t_start, s_start), hi = std::min(t_start + t_length, s_start + s_length);
    if (lo >= hi) continue;
    const int64_t count = (hi - lo) * inner;
    for (int64_t o = 0; o < outer; ++o)
      ck.read_into(s, (o * s_length + lo - s_start) * inner, count,
                   dest.narrow(0, (o * t_length + lo - t_start) * inner, count));
    covered += hi - lo;
  }
  if (covered != t_length)
    throw UserError(shown + ": " + target.key + " has " + std::to_string(covered) + " of the " +
                    std::to_string(t_length) + " slices this rank needs; a rank's file is " +
                    "missing or damaged, resume from an earlier copy");
  if (!in_place) local.copy_(dest.view(local.sizes()));
  return true;
}

// Fills `targets` from the checkpoint: by overlapping runs or slabs where the layouts allow, else
// each cut out of its whole tensor (one whole at a time: kept while the next targets share its key).
void fill(ShardedCheckpointFiles& ck, std::vector<StatePiece>& targets, const std::string& shown) {
  std::stable_sort(targets.begin(), targets.end(),
                   [](const StatePiece& a, const StatePiece& b) { return a.key < b.key; });
  torch::NoGradGuard no_grad;
  std::string whole_key;
  torch::Tensor whole;
  std::unique_ptr<ShardedCheckpointFiles::Held> kept;  // declared after whole: released before it
  for (auto& t : targets) {
    const auto* stored = ck.stored(t.key);
    if (!stored)
      throw UserError(shown + ": no " + t.key + " in it; a checkpoint of another model or " +
                      "optimizer (resume with the options it was written with)");
    if (stored->front().piece.whole_sizes != t.whole_sizes)
      throw UserError(shown + ": " + t.key + " has another shape there; a checkpoint of another " +
                      "model (resume with the options it was written with)");
    if (fill_by_runs(ck, *stored, t, shown) || fill_by_slabs(ck, *stored, t, shown)) continue;
    if (whole_key != t.key) {
      kept.reset();
      whole = torch::Tensor();  // one whole at a time
      whole = ck.whole(t.key);
      whole_key = t.key;
      kept = std::make_unique<ShardedCheckpointFiles::Held>(ck, whole);
    }
    const auto part = part_of(whole, t);
    const ShardedCheckpointFiles::Held copy(ck, part.is_alias_of(whole) ? torch::Tensor() : part);
    t.local.copy_(part.reshape(t.local.sizes()));
  }
}

}  // namespace

class ShardedCheckpointReader::Files : public ShardedCheckpointFiles {
 public:
  using ShardedCheckpointFiles::ShardedCheckpointFiles;
};

ShardedCheckpointReader::ShardedCheckpointReader(const std::string& run_dir)
    : files_(std::make_unique<Files>(run_dir)), shown_(sharded_checkpoint_path(run_dir)) {}

ShardedCheckpointReader::~ShardedCheckpointReader() = default;

const nlohmann::json& ShardedCheckpointReader::meta() const {
  return files_->meta();
}

// The optimizer state the checkpoint holds (what the strategy creates before filling it).
OptimizerStateSpec ShardedCheckpointReader::optimizer() const {
  const auto& meta = files_->meta();
  OptimizerStateSpec spec;
  if (meta.contains("optimizer") && !meta["optimizer"].is_null()) {
    spec.names = meta["optimizer"].at("states").get<std::vector<std::string>>();
    spec.step = meta["optimizer"].at("step").get<int64_t>();
  }
  return spec;
}

std::vector<int64_t> ShardedCheckpointReader::whole_sizes(const std::string& key) const {
  const auto* s = files_->stored(key);
  return s ? s->front().piece.whole_sizes : std::vector<int64_t>{};
}

void ShardedCheckpointReader::fill(std::vector<StatePiece>& targets) {
  parallax::fill(*files_, targets, shown_);
}

int64_t ShardedCheckpointReader::most_held() const {
  return files_->most_held();
}

}  // namespace parallax
