// predict_memory(): the step laid over the block list. Forward ends holding every block's
// activations; backward then walks the blocks in reverse, freeing each block's activations as its
// gradients appear; the peak is the largest total on that walk.
#include "plan/memory_model.h"

#include <algorithm>
#include <numeric>
#include <set>

#include "parallel/bucket_layout.h"
#include "parallel/schedule.h"

namespace parallax {
namespace {

int64_t sum(const std::vector<int64_t>& v, size_t begin, size_t end) {
  return std::accumulate(v.begin() + begin, v.begin() + end, int64_t{0});
}

const std::vector<int64_t>& at_rows(const std::map<int64_t, std::vector<int64_t>>& by_rows,
                                    int64_t rows) {
  static const std::vector<int64_t> none;
  const auto it = by_rows.find(rows);
  return it == by_rows.end() ? none : it->second;
}

const std::vector<int64_t>& activations_at(const MemoryWorkload& w, int64_t rows) {
  return at_rows(w.activations_by_rows, rows);
}

int64_t workspace_of(const MemoryWorkload& w, int64_t rows, size_t begin, size_t end) {
  const auto& ws = at_rows(w.workspace_by_rows, rows);
  int64_t bytes = 0;
  for (size_t b = begin; b < end && b < ws.size(); ++b) bytes += ws[b];
  return bytes;
}

int64_t activation_of(const std::vector<int64_t>& a, size_t block) {
  return block < a.size() ? a[block] : 0;
}

// Data parallel, ZeRO 1/2/3 and one device.
PredictedMemory predict_replicated(const MemoryWorkload& w, const MemoryCandidate& c) {
  const size_t n = w.block_params.size();
  const int world = std::max(1, c.world);
  const bool zero = c.strategy == "zero" && world > 1;
  const bool reduced = (c.strategy == "ddp" || c.strategy == "zero") && world > 1;
  const int64_t e = w.element_bytes;
  const double mib = 1024.0 * 1024.0;
  const bool per_block = zero && c.zero_stage == 3;
  const BucketLayout layout = per_block ? plan_buckets_by_group(w.param_numels, w.param_block, world)
                                        : plan_buckets(w.param_numels, e, w.first_bucket_mb * mib, w.bucket_mb * mib,
                                           zero ? world : 1, w.tail_bucket_mb * mib);
  int64_t padded = 0, largest_bucket = 0;
  std::vector<int64_t> bucket_bytes;
  for (const auto& b : layout.buckets) {
    padded += b.padded;
    bucket_bytes.push_back(b.padded * e);
    largest_bucket = std::max(largest_bucket, b.padded * e);
  }
  const int64_t psi = sum(w.block_params, 0, n);
  const int64_t buffers = sum(w.block_buffer_bytes, 0, n);
  PredictedMemory m;
  const int64_t whole = (zero ? padded : psi) * e;
  m.parameters = (zero && c.zero_stage == 3 ? whole / world : whole) + buffers;
  m.optimizer_state = w.optimizer_slots * (zero ? whole / world : whole);
  const int64_t rows = micro_batch_rows(w, c);
  const auto& act = activations_at(w, rows);
  const auto& rebuilt = at_rows(w.rebuilt_by_rows, rows);
  m.activations = sum(act, 0, act.size());
  const int64_t input = rows * w.input_bytes_per_image;
  m.other = input + workspace_of(w, rows, 0, n);

  // Gradients that outlive a step: kept buckets (ddp, zero-1), or the shards (zero-2/3).
  const bool released = zero && c.zero_stage >= 2;
  const int64_t kept_grads = !reduced ? 0 : released ? whole / world : padded * e;
  // ZeRO-2/3: whole buckets alive at once during backward, at most buckets_in_flight.
  std::vector<int64_t> sorted = bucket_bytes;
  std::sort(sorted.rbegin(), sorted.rend());
  const int64_t in_flight =
      released ? sum(sorted, 0, std::min<size_t>(sorted.size(), std::max(1, c.buckets_in_flight)))
               : 0;
  // ZeRO-3: the buckets gathered around the block that runs (it and the next), or all of them
  // from forward to backward without resharding.
  auto gathered = [&](size_t block) -> int64_t {
    if (!(zero && c.zero_stage == 3)) return 0;
    if (!c.reshard_after_forward) return whole - whole / world;
    std::set<size_t> buckets;
    for (size_t k = 0; k < w.param_numels.size(); ++k)
      if (w.param_block[k] == block || w.param_block[k] == block + 1)
        buckets.insert(layout.bucket_of[k]);
    int64_t bytes = 0;
    for (size_t b : buckets) bytes += bucket_bytes[b];
    return bytes;
  };
  // bf16 on the wire: a kept bucket keeps its bf16 copy; a released one has it while in flight.
  const int64_t wire = !(reduced && w.wire_bf16) ? 0
                       : released                ? in_flight / e * 2
                                                 : padded * 2;
  m.gradients = (reduced ? (released ? whole / world + in_flight : kept_grads) : psi * e) + wire;
  const int64_t base = m.parameters + m.optimizer_state + m.other;
  int64_t peak = base + kept_grads + (released ? 0 : wire) + m.activations + gathered(n - 1);
  // Backward from the last block: block i's gradients appear as its activations go.
  int64_t grads_so_far = 0;
  for (size_t i = n; i-- > 0;) {
    const auto grads_now = [&] {
      return !reduced ? grads_so_far : released ? whole / world + in_flight + wire : kept_grads + wire;
    };
    // Recomputed: block i's backward first builds its activations again, before its gradients.
    if (i < rebuilt.size() && rebuilt[i] > 0)
      peak = std::max(peak, base + grads_now() + sum(act, 0, std::min(i + 1, act.size())) +
                                rebuilt[i] + gathered(i));
    grads_so_far += w.block_params[i] * e;
    const int64_t held_act = sum(act, 0, std::min(i, act.size()));
    peak = std::max(peak, base + grads_now() + held_act + gathered(i > 0 ? i - 1 : 0));
  }
  m.peak = peak;
  return m;
}

// A pipeline stage holds its blocks; 1F1B at stage s keeps min(M, S - s) micro-batches'
// activations, GPipe all M.
std::vector<PredictedMemory> predict_pipeline(const MemoryWorkload& w, const MemoryCandidate& c) {
  std::vector<PredictedMemory> ranks;
  const int chunks = std::max(1, c.virtual_stages);
  const int stages = (static_cast<int>(c.cuts.size()) - 1) / chunks;
  const int micro = c.strategy == "model" ? 1 : std::max(1, c.micro_batches);
  const int64_t rows = micro_batch_rows(w, c);
  const auto& act = activations_at(w, rows);
  const auto& rebuilt = at_rows(w.rebuilt_by_rows, rows);
  const int64_t e = w.element_bytes;
  const std::string schedule = c.strategy == "model" ? "gpipe" : c.schedule;
  const PipelineLayout layout = layout_for(schedule, stages, chunks);
  for (int s = 0; s < stages; ++s) {
    PredictedMemory m;
    int64_t params = 0, buffers = 0, per_micro = 0, workspace = 0, rebuilding = 0;
    for (int ch = 0; ch < layout.chunks; ++ch) {
      const int piece = layout.piece(s, ch);
      const size_t begin = c.cuts[piece], end = c.cuts[piece + 1];
      params += sum(w.block_params, begin, end) * e;
      buffers += sum(w.block_buffer_bytes, begin, end);
      for (size_t b = begin; b < end; ++b) {
        per_micro += activation_of(act, b);
        rebuilding = std::max(rebuilding, activation_of(rebuilt, b));  // one block at a time
      }
      workspace += workspace_of(w, rows, begin, end);
    }
    m.parameters = params + buffers;
    m.gradients = params;
    m.optimizer_state = w.optimizer_slots * params;
    // Micro-batch chunks held at the schedule's peak (its own list of actions), each taken as
    // 1/chunks of the rank's activations per micro-batch.
    const int chunks_held = peak_in_flight(make_schedule(schedule, micro, layout, s));
    const double held = std::max(1.0, static_cast<double>(chunks_held) / layout.chunks);
    m.activations = static_cast<int64_t>(held * static_cast<double>(per_micro));
    m.other = (s == 0 ? w.batch * w.input_bytes_per_image : 0) + workspace;
    // The gradients come with the first backward, while the micro-batches it runs on are still
    // held: ResNet's last blocks hold most parameters and its first most activations, so nearly
    // all of both coexist (1F1B's steady state holds them with all its micro-batches too).
    m.peak = m.parameters + m.optimizer_state + m.other +
             std::max(m.activations, m.gradients + m.activations + rebuilding);
    ranks.push_back(m);
  }
  return ranks;
}

}  // namespace

int64_t micro_batch_rows(const MemoryWorkload& w, const MemoryCandidate& c) {
  if (c.strategy == "model") return w.batch;
  if (c.strategy == "pipeline") return std::max<int64_t>(1, w.batch / std::max(1, c.micro_batches));
  return std::max<int64_t>(1, w.batch / std::max(1, c.world));
}

std::vector<PredictedMemory> predict_memory(const MemoryWorkload& w, const MemoryCandidate& c) {
  if (c.strategy == "model" || c.strategy == "pipeline") return predict_pipeline(w, c);
  return std::vector<PredictedMemory>(std::max(1, c.world), predict_replicated(w, c));
}

double zero_rule_bytes(int stage, double psi, int world, double weight_bytes,
                       double optimizer_bytes) {
  const double p = weight_bytes * psi, g = weight_bytes * psi, o = optimizer_bytes * psi;
  switch (stage) {
    case 1: return p + g + o / world;
    case 2: return p + (g + o) / world;
    case 3: return (p + g + o) / world;
    default: return p + g + o;
  }
}

}  // namespace parallax
