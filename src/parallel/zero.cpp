// Zero: the optimizer sees one tensor per bucket (this rank's chunk), with the reducer's averaged
// chunk as its gradient; SGD and Adam are elementwise, so the update equals DDP's bit for bit.
#include "parallel/zero.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "distributed/collectives.h"
#include "optim/decoupled_decay.h"
#include "optim/optimizer.h"

namespace parallax {

Zero::Zero(const Config& cfg, const DistContext& ctx, std::shared_ptr<ModelBlocks> model)
    : DataParallel(cfg, ctx, std::move(model)),
      cfg_(cfg),
      sharded_(reducer_ != nullptr),
      gathers_on_device_(runs_on_device_streams(ctx.world_pg)),
      gather_clock_(gathers_on_device_ ? ctx.device : torch::Device(torch::kCPU)) {
  if (!sharded_) return;
  if (trace_)
    for (Flights& f : flights_)
      f.clock = std::make_unique<StreamClock>(gathers_on_device_ ? ctx.device
                                                                 : torch::Device(torch::kCPU));
  const auto& layout = reducer_->layout();
  auto opts = model_->parameters().front().options();
  for (const auto& plan : layout.buckets) flat_params_.push_back(torch::zeros({plan.padded}, opts));
  bind_parameters_to_flat_buffers();
  for (size_t b = 0; b < layout.buckets.size(); ++b) {
    const int64_t chunk = layout.buckets[b].padded / ctx_.world;
    // A tensor of its own (detach) over this rank's chunk of the bucket's parameters.
    shards_.push_back(flat_params_[b].narrow(0, ctx_.rank * chunk, chunk).detach());
  }
  // AdamW's decay, if any, is step_shards()'s to apply: a shard mixes decayed and other parameters.
  optimizer_ = make_optimizer(cfg, shards_, DecayRule::kCallerApplies);
  find_decayed_parts();
  gathers_.resize(layout.buckets.size());
  for (size_t b = 0; b < layout.buckets.size(); ++b) all_buckets_.push_back(b);
  // A block that borrows a tied weight (GPT's head) needs its bucket gathered too.
  for (const auto& indices : model_->parameter_indices_used_by_block()) {
    std::set<size_t> buckets;
    for (size_t k : indices) buckets.insert(layout.bucket_of[k]);
    block_buckets_.emplace_back(buckets.begin(), buckets.end());
  }
  model_->set_before_block([this](size_t block) { wait_gathers(block_buckets_[block]); });
}

void Zero::find_decayed_parts() {
  if (decoupled_weight_decay(cfg_) == 0) return;
  const auto& layout = reducer_->layout();
  std::vector<int64_t> numels;
  std::vector<bool> decayed;
  for (const auto& p : model_->parameters()) {
    numels.push_back(p.numel());
    decayed.push_back(decays_by_shape(p.dim()));  // as the single-device optimizer's groups
  }
  for (size_t b = 0; b < layout.buckets.size(); ++b) {
    const int64_t chunk = layout.buckets[b].padded / ctx_.world;
    decayed_parts_.push_back(
        selected_parts(layout.buckets[b], numels, decayed, ctx_.rank * chunk, chunk));
  }
}

void Zero::bind_parameters_to_flat_buffers() {
  torch::NoGradGuard no_grad;
  const auto& layout = reducer_->layout();
  auto params = model_->parameters();
  for (size_t k = 0; k < params.size(); ++k) {
    auto view = bucket_view(flat_params_[layout.bucket_of[k]], layout.offset_of[k], params[k]);
    view.copy_(params[k]);
    params[k].set_data(view);
  }
}

double Zero::update() {
  if (!sharded_) return DataParallel::update();
  step_shards();
  launch_gathers();  // waited for block by block in the next forward
  return 0;
}

void Zero::step_shards() {
  // The reducer's averaged chunks are the shards' gradients (allocated with their first step).
  for (size_t b = 0; b < shards_.size(); ++b) shards_[b].mutable_grad() = reducer_->shard_grad(b);
  if (!skip_update_ && !decayed_parts_.empty()) {
    // AdamW's decoupled decay on the matrices' parts, just before the update, as AdamW would.
    const double lr = optimizer_->param_groups().front().options().get_lr();
    for (size_t b = 0; b < shards_.size(); ++b)
      apply_decoupled_decay(shards_[b], decayed_parts_[b], lr, decoupled_weight_decay(cfg_));
  }
  step_optimizer();  // this rank's chunks only
  record_optimizer_state();
}

void Zero::launch_gathers() {
  // With a trace, the set used two steps ago: its gathers completed in the last step's forward
  // and were laid on the trace after that step's sync (exposed_comm_s()).
  Flights* f = trace_ ? &flights_[current_flights_ ^= 1] : nullptr;
  if (f) {
    f->clock->begin();
    f->marks.assign(flat_params_.size(), {-1, -1});
    f->pending = true;
  }
  // Buckets hold the model in reverse order: the last bucket holds the first layers, which the
  // next forward needs first, so it goes first.
  for (size_t b = flat_params_.size(); b-- > 0;) {
    const int launched = f ? f->clock->mark() : -1;
    gathers_[b] = all_gather_in_place(ctx_.world_pg, flat_params_[b], ctx_.rank, ctx_.world);
    if (f) f->marks[b] = {launched, f->clock->mark_done(gathers_[b], gathers_on_device_)};
  }
}

void Zero::lay_gathers_on_trace(Flights& f) {
  f.pending = false;
  f.clock->resolve();
  const double base = trace_->base_us(*f.clock);
  char name[96];
  for (size_t b = 0; b < f.marks.size(); ++b) {
    std::snprintf(
        name, sizeof name, "all-gather bucket %zu (%.2f MiB)", b,
        static_cast<double>(flat_params_[b].numel() * flat_params_[b].element_size()) / (1 << 20));
    trace_->timeline().collective(name, base + f.clock->at(f.marks[b][0]) * 1e6,
                                  base + f.clock->at(f.marks[b][1]) * 1e6);
  }
}

void Zero::wait_gathers(const std::vector<size_t>& buckets) {
  const bool any =
      std::any_of(buckets.begin(), buckets.end(), [&](size_t b) { return gathers_[b]; });
  if (!any) return;
  if (gather_waits_.empty()) gather_clock_.begin();
  const int from = gather_clock_.mark();
  for (size_t b : buckets) {
    if (!gathers_[b]) continue;
    // Until this returns (CPU) or the stream passes it (NCCL), other ranks' slices of these
    // parameters are still arriving.
    gathers_[b]->wait();
    gathers_[b].reset();
  }
  gather_waits_.insert(gather_waits_.end(), {from, gather_clock_.mark()});
}

double Zero::exposed_comm_s() {
  if (trace_) {  // after the step's sync: the earlier set, and the last one if all arrived
    const bool in_flight = std::any_of(gathers_.begin(), gathers_.end(),
                                       [](const auto& g) { return static_cast<bool>(g); });
    for (int k : {current_flights_ ^ 1, current_flights_})
      if (flights_[k].pending && (k != current_flights_ || !in_flight))
        lay_gathers_on_trace(flights_[k]);
  }
  if (gather_waits_.empty()) return 0;
  gather_clock_.resolve();
  const double base = trace_ ? trace_->base_us(gather_clock_) : 0;
  double s = 0;
  for (size_t i = 0; i + 1 < gather_waits_.size(); i += 2) {
    const double from = gather_clock_.at(gather_waits_[i]),
                 to = gather_clock_.at(gather_waits_[i + 1]);
    s += std::max(0.0, to - from);
    if (trace_ && to > from)
      trace_->timeline().span("compute", "wait for parameters (all-gather)", base + from * 1e6,
                              base + to * 1e6);
  }
  gather_waits_.clear();
  return s;
}

void Zero::wait_gathers() {
  if (sharded_) wait_gathers(all_buckets_);
}

EvalStats Zero::evaluate(Loader& test) {
  wait_gathers();
  exposed_comm_s();  // a wait between steps: not part of the next step's time
  return DataParallel::evaluate(test);
}

MemoryStats Zero::memory() const {
  MemoryStats m = DataParallel::memory();
  if (!sharded_) return m;
  m.grad_bytes = reducer_->held_grad_bytes();
  return m;  // optimizer_state_bytes: the shard optimizer's, 1/world of DDP's
}

void Zero::save(torch::serialize::OutputArchive& archive) {
  if (!sharded_) return DataParallel::save(archive);
  wait_gathers();
  // The single-device optimizer over the whole model, filled with every rank's slices.
  auto params = model_->parameters();
  auto whole = make_optimizer(cfg_, params);
  const auto& layout = reducer_->layout();
  for (size_t b = 0; b < shards_.size(); ++b) {
    const auto mine = get_param_state(*optimizer_, shards_[b]);
    if (!mine) continue;  // no step yet: no state on any rank
    const auto& plan = layout.buckets[b];
    for (const auto& [name, slice] : mine->tensors) {
      auto full = torch::empty({plan.padded}, slice.options());
      full.narrow(0, ctx_.rank * slice.numel(), slice.numel()).copy_(slice);
      all_gather_in_place(ctx_.world_pg, full, ctx_.rank, ctx_.world)->wait();
      if (!ctx_.is_root()) continue;
      for (size_t i = 0; i < plan.params.size(); ++i) {
        const auto& p = params[plan.params[i]];
        ParamState st = get_param_state(*whole, p).value_or(ParamState{});
        st.step = mine->step;
        st.tensors[name] = bucket_view(full, plan.offsets[i], p).clone();
        set_param_state(*whole, p, st);
      }
    }
  }
  save_with(archive, *whole);
}

void Zero::load(torch::serialize::InputArchive& archive) {
  if (!sharded_) return DataParallel::load(archive);
  wait_gathers();  // nothing may still be writing into the buffers being replaced
  auto params = model_->parameters();
  auto whole = make_optimizer(cfg_, params);
  load_with(archive, *whole);  // host tensors; place_model() binds them into the buckets again
  // Every rank cuts its own chunk out of the consolidated state: any world size resumes.
  const auto& layout = reducer_->layout();
  for (size_t b = 0; b < shards_.size(); ++b) {
    const auto& plan = layout.buckets[b];
    ParamState mine;
    bool any = false;
    for (size_t i = 0; i < plan.params.size(); ++i) {
      const auto st = get_param_state(*whole, params[plan.params[i]]);
      if (!st) continue;
      any = true;
      mine.step = st->step;
      for (const auto& [name, t] : st->tensors) {
        auto& full = mine.tensors[name];
        if (!full.defined()) full = torch::zeros({plan.padded}, t.options());
        bucket_view(full, plan.offsets[i], params[plan.params[i]]).copy_(t);
      }
    }
    if (!any) continue;
    const int64_t chunk = shards_[b].numel();
    for (auto& [name, full] : mine.tensors)
      full = torch::empty({chunk}, full.options().device(shards_[b].device()))
                 .copy_(full.narrow(0, ctx_.rank * chunk, chunk));
    set_param_state(*optimizer_, shards_[b], mine);
  }
  reducer_->hook_parameters();  // the loaded parameters have new gradient accumulators
}

torch::Device Zero::checkpoint_load_device(const torch::Device& rank_device) const {
  return sharded_ ? torch::Device(torch::kCPU) : rank_device;
}

void Zero::place_model() {
  if (!sharded_) return DataParallel::place_model();
  bind_parameters_to_flat_buffers();  // copies each loaded parameter into its bucket's view
  torch::NoGradGuard no_grad;
  for (auto& t : model_->buffers()) t.set_data(t.to(device_));
}

std::vector<KeptPart> Zero::chunk_parts(size_t b) const {
  const auto& plan = reducer_->layout().buckets[b];
  const auto named = model_->named_parameters();
  const int64_t chunk = shards_[b].numel(), first = ctx_.rank * chunk, end = first + chunk;
  std::vector<KeptPart> parts;
  for (size_t i = 0; i < plan.params.size(); ++i) {
    const auto& p = named[plan.params[i]];
    const int64_t begin = plan.offsets[i], n = p.value().numel();
    const int64_t lo = std::max(begin, first), hi = std::min(begin + n, end);
    if (lo >= hi) continue;
    KeptPart part;
    part.name = p.key();
    part.where.whole_sizes = p.value().sizes().vec();
    part.where.cut = StatePiece::Cut::kFlat;
    part.where.start = lo - begin;
    part.where.length = hi - lo;
    // The bucket holds a parameter in its memory order (bucket_view): channels-last is NHWC.
    part.where.channels_last = p.value().dim() == 4 && !p.value().is_contiguous();
    part.of = [at = lo - first, len = hi - lo](const torch::Tensor& t) {
      return t.narrow(0, at, len);
    };
    parts.push_back(std::move(part));
  }
  return parts;
}

std::vector<StatePiece> Zero::state_pieces(const OptimizerStateSpec* load) {
  if (!sharded_) return DataParallel::state_pieces(load);
  wait_gathers();  // the parameters and chunks are this step's
  std::vector<StatePiece> out;
  // A load into ZeRO-1/2 fills every rank's whole parameters (the chunks are views of them).
  const bool whole_parameters = load && !chunks_hold_parameters();
  if (whole_parameters)
    for (const auto& p : model_->named_parameters())
      add_kept_pieces(out, p.value(), {whole_part(p.key(), p.value())}, false, nullptr, nullptr);
  for (size_t b = 0; b < shards_.size(); ++b)
    add_kept_pieces(out, shards_[b], chunk_parts(b), true, optimizer_.get(), load,
                    !whole_parameters);
  add_buffer_pieces(out, ctx_.is_root());
  return out;
}

}  // namespace parallax
