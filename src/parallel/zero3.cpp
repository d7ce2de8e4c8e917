// Zero3: freeing a bucket empties its StorageImpl (data pointer and size), as FSDP frees a flat
// parameter; the parameters stay views into it, so autograd's saved references to them see the
// values again once the bucket is gathered for backward.
#include "parallel/zero3.h"

#include <torch/torch.h>

#include <algorithm>

#include "distributed/collectives.h"
#include "metrics/heap.h"
#include "optim/optimizer.h"

namespace parallax {

Zero3::Zero3(const Config& cfg, const DistContext& ctx, std::shared_ptr<ModelBlocks> model)
    : Zero(cfg, ctx, std::move(model)), reshard_after_forward_(cfg.reshard_after_forward) {
  if (!sharded_) return;
  const size_t buckets = flat_params_.size();
  // The chunks get storage of their own: the buckets' is freed between uses.
  for (auto& shard : shards_) shard = shard.clone();
  optimizer_ = make_optimizer(cfg, shards_, DecayRule::kCallerApplies);  // as Zero's
  resident_.assign(buckets, 1);
  last_forward_user_.assign(buckets, 0);
  for (size_t block = 0; block < block_buckets_.size(); ++block)
    for (size_t b : block_buckets_[block]) last_forward_user_[b] = block;
  for (const auto& flat : flat_params_) bucket_bytes_.push_back(flat.storage().nbytes());
  release_all();
  gathered_bytes_ = peak_gathered_bytes_ = 0;  // counted from here: the buckets gathered in use
  model_->set_before_block([this](size_t block) { before_block(block); });
  model_->set_after_block(
      [this](size_t block, const torch::Tensor& out) { after_block(block, out); });
  // A bucket whose gradients are all in is not needed again by this backward.
  reducer_->set_on_bucket_filled([this](size_t b) { release(b); });
}

void Zero3::allocate(size_t b) {
  auto* storage = flat_params_[b].storage().unsafeGetStorageImpl();
  storage->set_data_ptr_noswap(storage->allocator()->allocate(bucket_bytes_[b]));
  storage->set_nbytes(bucket_bytes_[b]);
  resident_[b] = 1;
  gathered_bytes_ += allocation_bytes(storage->data(), bucket_bytes_[b], flat_params_[b].device());
  peak_gathered_bytes_ = std::max(peak_gathered_bytes_, gathered_bytes_);
}

void Zero3::gather(size_t b) {
  if (resident_[b]) return;
  allocate(b);
  const int64_t chunk = shards_[b].numel();
  {
    torch::NoGradGuard no_grad;
    flat_params_[b].narrow(0, ctx_.rank * chunk, chunk).copy_(shards_[b]);
  }
  gathers_[b] = all_gather_in_place(ctx_.world_pg, flat_params_[b], ctx_.rank, ctx_.world);
}

void Zero3::release(size_t b) {
  if (!resident_[b]) return;
  if (gathers_[b]) {  // never free what a collective still writes
    gathers_[b]->wait();
    gathers_[b].reset();
  }
  auto* storage = flat_params_[b].storage().unsafeGetStorageImpl();
  gathered_bytes_ -= allocation_bytes(storage->data(), bucket_bytes_[b], flat_params_[b].device());
  storage->set_data_ptr_noswap(at::DataPtr(nullptr, flat_params_[b].device()));
  storage->set_nbytes(0);
  resident_[b] = 0;
}

void Zero3::release_all() {
  for (size_t b = 0; b < flat_params_.size(); ++b) release(b);
}

void Zero3::gather_all() {
  for (size_t b = 0; b < flat_params_.size(); ++b) gather(b);
  wait_gathers();
}

void Zero3::before_block(size_t block) {
  if (whole_model_) return;
  for (size_t b : block_buckets_[block]) gather(b);
  // Prefetch: the next block's buckets travel while this block computes.
  if (block + 1 < block_buckets_.size())
    for (size_t b : block_buckets_[block + 1]) gather(b);
  wait_gathers(block_buckets_[block]);
}

void Zero3::after_block(size_t block, const torch::Tensor& output) {
  if (whole_model_) return;
  const bool backward_follows = torch::GradMode::is_enabled() && output.requires_grad();
  if (backward_follows) {
    // Fires when the gradient of this block's output is complete: its backward is next.
    auto out = output;
    out.register_hook([this, block](const torch::Tensor&) { before_block_backward(block); });
  }
  if (backward_follows && !reshard_after_forward_) return;
  for (size_t b : block_buckets_[block])
    if (last_forward_user_[b] == block) release(b);
}

void Zero3::before_block_backward(size_t block) {
  for (size_t b : block_buckets_[block]) gather(b);
  if (block > 0)
    for (size_t b : block_buckets_[block - 1]) gather(b);
  wait_gathers(block_buckets_[block]);
}

double Zero3::update() {
  if (!sharded_) return Zero::update();
  release_all();  // buckets without gradients this step, or kept through accumulation
  probe_.set_gathered_parameters(peak_gathered_bytes_);
  step_shards();
  // The first block's buckets travel while the step ends and the next batch is fetched.
  if (!block_buckets_.empty())
    for (size_t b : block_buckets_.front()) gather(b);
  return 0;
}

EvalStats Zero3::evaluate(Loader& test) {
  if (!sharded_) return Zero::evaluate(test);
  // Ranks may get a different number of test batches: block-by-block gathers would then be
  // collectives some ranks never join. The whole model is gathered once instead.
  const int64_t training_peak = peak_gathered_bytes_;  // evaluation's whole model is not training's
  gather_all();
  whole_model_ = true;
  const EvalStats stats = Zero::evaluate(test);
  whole_model_ = false;
  release_all();
  peak_gathered_bytes_ = training_peak;
  exposed_comm_s();  // waits between steps: not the next step's
  return stats;
}

std::vector<torch::Tensor> Zero3::resident_state() const {
  auto tensors = Zero::resident_state();
  tensors.insert(tensors.end(), shards_.begin(), shards_.end());
  return tensors;
}

MemoryStats Zero3::memory() const {
  MemoryStats m = Zero::memory();
  if (!sharded_) return m;
  m.param_bytes = 0;
  for (const auto& s : shards_) m.param_bytes += s.numel() * s.element_size();
  return m;
}

void Zero3::save(torch::serialize::OutputArchive& archive) {
  if (!sharded_) return Zero::save(archive);
  gather_all();  // until checkpoint_written(): the archive refers to the model's tensors
  Zero::save(archive);
  exposed_comm_s();
}

void Zero3::keep_own_chunks() {
  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < shards_.size(); ++b) {
    const int64_t chunk = shards_[b].numel();
    shards_[b].copy_(flat_params_[b].narrow(0, ctx_.rank * chunk, chunk));
  }
}

void Zero3::load(torch::serialize::InputArchive& archive) {
  if (!sharded_) return Zero::load(archive);
  wait_gathers();
  // Storage to bind the loaded parameters into; every rank then keeps only its chunks.
  for (size_t b = 0; b < flat_params_.size(); ++b)
    if (!resident_[b]) allocate(b);
  Zero::load(archive);
  keep_own_chunks();
  release_all();
  // The load's whole model was not a training step's gathering (as in the constructor).
  peak_gathered_bytes_ = gathered_bytes_;
}

}  // namespace parallax
