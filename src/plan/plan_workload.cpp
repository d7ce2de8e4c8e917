// build_plan_model() and the memory model's workload.
#include "plan/plan_workload.h"

#include <torch/torch.h>

#include <cstdio>

#include "data/load_dataset.h"
#include "models/blocks.h"
#include "models/make_model.h"
#include "models/recompute.h"
#include "parallel/mixed_precision.h"
#include "plan/activation_profile.h"

namespace parallax {

PlanModel build_plan_model(const Config& cfg) {
  PlanModel m;
  m.device = torch::Device(cfg.device == "cpu" ? std::string("cpu") : cfg.device);
  int64_t channels = cfg.channels, size = cfg.image_size, classes = cfg.classes;
  m.sample = {channels, size, size};
  if (cfg.dataset != "synthetic") {
    const Dataset data = load_dataset(cfg, context_of(cfg.model, cfg.context));
    channels = data.channels();
    size = data.height();
    classes = data.classes;
    m.sample = data.sample_shape();
  }
  m.model = make_model(model_spec(cfg, channels, classes, size));
  m.model->set_floating_dtype(cfg.dtype == "fp64" ? torch::kDouble : torch::kFloat);
  if (cfg.channels_last) m.model->set_channels_last();
  m.model->to(m.device);
  return m;
}

MemoryWorkload memory_workload(const Config& cfg, const PlanModel& m) {
  MemoryWorkload w;
  int64_t sample_numel = 1;
  for (int64_t d : m.sample) sample_numel *= d;
  w.element_bytes = cfg.dtype == "fp64" ? 8 : 4;
  w.optimizer_slots =
      cfg.optimizer == "adam" || cfg.optimizer == "adamw" ? 2 : (cfg.momentum > 0 ? 1 : 0);
  w.batch = cfg.batch_size;
  // Token ids are int64; images are in the model's dtype.
  w.input_bytes_per_image = sample_numel * (m.model->token_input() ? 8 : w.element_bytes);
  w.bucket_mb = cfg.bucket_mb;
  w.tail_bucket_mb = cfg.tail_bucket_mb;
  w.wire_bf16 = cfg.grad_reduce_dtype == "bf16";
  w.recompute = cfg.recompute;
  const auto by_block = m.model->parameter_indices_by_block();
  const auto params = m.model->parameters();
  for (size_t b = 0; b < m.model->blocks().size(); ++b) {
    int64_t numel = 0, buffers = 0;
    for (size_t k : by_block[b]) {
      numel += params[k].numel();
      w.param_numels.push_back(params[k].numel());
      w.param_block.push_back(b);
    }
    for (const auto& t : m.model->blocks()[b].block->buffers()) buffers += t.numel() * t.element_size();
    w.block_params.push_back(numel);
    w.block_buffer_bytes.push_back(buffers);
  }
  return w;
}

void add_activations(const Config& cfg, const PlanModel& m, int64_t rows, MemoryWorkload& w,
                     int64_t largest, bool quiet, const MemoryWorkload* plain) {
  if (w.activations_by_rows.count(rows)) return;
  if (largest > 0 && rows > largest) {
    add_activations(cfg, m, largest, w, 0, quiet, plain);
    const double k = static_cast<double>(rows) / static_cast<double>(largest);
    for (auto* table : {&w.activations_by_rows, &w.workspace_by_rows, &w.rebuilt_by_rows}) {
      if (!table->count(largest)) continue;
      std::vector<int64_t> scaled;
      for (int64_t b : (*table)[largest]) scaled.push_back(static_cast<int64_t>(b * k));
      (*table)[rows] = scaled;
    }
    return;
  }
  if (!quiet)
    std::fprintf(stderr, "parallax: profiling %s's activations at %lld images per micro-batch\n",
               cfg.model.c_str(), static_cast<long long>(rows));
  const Precision precision = precision_for(cfg, m.device);
  const Recompute was = m.model->recompute();
  m.model->set_recompute(recompute_from_name(w.recompute));
  const ActivationProfile profile = profile_activations(*m.model, m.sample, rows, m.device, precision);
  w.activations_by_rows[rows] = profile.activations;
  w.workspace_by_rows[rows] = profile.workspace;
  if (w.recompute != "none") {
    // Without recomputation: the plain workload's figures where it has them, else profiled here.
    std::vector<int64_t> whole;
    if (plain && plain->activations_by_rows.count(rows)) {
      whole = plain->activations_by_rows.at(rows);
    } else {
      m.model->set_recompute(Recompute::kNone);
      whole = profile_activations(*m.model, m.sample, rows, m.device, precision).activations;
    }
    std::vector<int64_t> rebuilt;
    for (size_t b = 0; b < whole.size(); ++b)
      rebuilt.push_back(std::max<int64_t>(0, whole[b] - profile.activations[b]));
    w.rebuilt_by_rows[rows] = rebuilt;
  }
  m.model->set_recompute(was);
}

MemoryWorkload& WorkloadsByRecompute::under(const std::string& recompute) {
  const auto it = made_.find(recompute);
  if (it != made_.end()) return it->second;
  MemoryWorkload w = base_;
  w.activations_by_rows.clear();
  w.workspace_by_rows.clear();
  w.rebuilt_by_rows.clear();
  w.recompute = recompute;
  return made_.emplace(recompute, std::move(w)).first->second;
}

}  // namespace parallax
