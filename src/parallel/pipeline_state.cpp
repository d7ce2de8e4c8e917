// Pipeline's collective parts outside the step: consolidated checkpoints (each stage's parameters,
// buffers and optimizer state broadcast from its owner) and the per-stage summary figures.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "distributed/collectives.h"
#include "parallel/pipeline.h"
#include "optim/optimizer.h"

namespace parallax {

void Pipeline::save(torch::serialize::OutputArchive& archive) {
  if (ctx_.stages == 1) return SingleDevice::save(archive);
  // Other stages' blocks exist on this rank only while the checkpoint is written.
  for (size_t b = 0; b < model_->blocks().size(); ++b)
    if (!owns(b)) materialize_block(b);
  auto all = model_->parameters();
  auto whole = make_optimizer(cfg_, all);
  // Every stage steps in lockstep, so this stage's state tells every stage's names and step.
  const auto mine = params_.empty() ? std::nullopt : get_param_state(*optimizer_, params_.front());
  for (int st = 0; st < ctx_.stages; ++st) {
    const bool owner = st == ctx_.stage;
    std::vector<torch::Tensor> tensors;
    for (size_t b = partition_.cuts[st]; b < partition_.cuts[st + 1]; ++b) {
      for (const auto& p : model_->blocks()[b].block->parameters()) tensors.push_back(p);
      for (const auto& t : model_->blocks()[b].block->buffers()) tensors.push_back(t);
    }
    std::vector<std::pair<torch::Tensor, ParamState>> states;
    if (mine) {
      for (size_t k : stage_params_[st]) {
        const auto& p = all[k];
        ParamState state = owner ? get_param_state(*optimizer_, p).value() : ParamState{};
        state.step = mine->step;
        for (const auto& [name, ignored] : mine->tensors) {
          auto& t = state.tensors[name];
          if (!owner) t = torch::empty_like(p);
          tensors.push_back(t);
        }
        states.emplace_back(p, std::move(state));
      }
    }
    broadcast_coalesced(ctx_.pp_pg, tensors, st);  // into this rank's model and `states`
    for (const auto& [p, state] : states) set_param_state(*whole, p, state);
  }
  save_with(archive, *whole);  // the other stages' blocks are freed once it is written
}

void Pipeline::load(torch::serialize::InputArchive& archive) {
  if (ctx_.stages == 1) return SingleDevice::load(archive);
  auto whole = make_optimizer(cfg_, model_->parameters());
  load_with(archive, *whole);  // the whole model; this stage keeps its own optimizer state
  for (const auto& p : params_)
    if (const auto state = get_param_state(*whole, p)) set_param_state(*optimizer_, p, *state);
}

nlohmann::json Pipeline::details() const {
  // One row per rank: stage, then its figures, gathered so rank 0 can write them all.
  const double steps = std::max<int64_t>(1, timed_steps_);
  std::vector<double> row{static_cast<double>(ctx_.stage),
                          static_cast<double>(ctx_.dp_rank),
                          totals_.wall_s / steps,
                          totals_.busy_s / steps,
                          totals_.recv_wait_s / steps,
                          totals_.send_wait_s / steps,
                          static_cast<double>(peak_activation_bytes_),
                          static_cast<double>(held_micro_batches_)};
  const auto rows =
      all_gather_rows(ctx_.world_pg, ctx_.world, torch::tensor(row, torch::kDouble), ctx_.device);
  const int micro = static_cast<int>(train_micro_.size());
  nlohmann::json ranks = nlohmann::json::array();
  double bubble_sum = 0;
  for (const auto& r : rows) {
    const double* v = r.data_ptr<double>();
    const double bubble = v[2] > 0 ? (v[2] - v[3]) / v[2] : 0;
    bubble_sum += bubble;
    ranks.push_back({{"stage", static_cast<int>(v[0])},
                     {"replica", static_cast<int>(v[1])},
                     {"step_s", v[2]},
                     {"busy_s", v[3]},
                     {"recv_wait_s", v[4]},
                     {"send_wait_s", v[5]},
                     {"bubble_fraction", bubble},
                     {"peak_activation_bytes", static_cast<int64_t>(v[6])},
                     {"held_micro_batches", static_cast<int>(v[7])}});
  }
  nlohmann::json stages = nlohmann::json::array();
  const auto& blocks = model_->blocks();
  for (int st = 0; st < ctx_.stages; ++st) {
    double cost = 0;
    const int64_t params = stage_numel_[st];
    for (size_t b = partition_.cuts[st]; b < partition_.cuts[st + 1]; ++b) cost += block_costs_[b];
    stages.push_back({{"first_block", blocks[partition_.cuts[st]].name},
                      {"last_block", blocks[partition_.cuts[st + 1] - 1].name},
                      {"blocks", partition_.cuts[st + 1] - partition_.cuts[st]},
                      {"parameters", params},
                      {"cost", cost}});
  }
  std::vector<std::string> cut;
  for (int st = 1; st < ctx_.stages; ++st) cut.push_back(blocks[partition_.cuts[st]].name);
  return {{"schedule", cfg_.strategy == "model" ? "model" : cfg_.pipeline_schedule},
          {"stages", ctx_.stages},
          {"replicas", ctx_.dp_size},
          {"micro_batches", micro},
          {"micro_batch_size", train_micro_.front()},
          {"split_at", cut},
          {"partition_by", cfg_.split_at.empty() ? cfg_.balance : "split-at"},
          {"cost_unit", cfg_.split_at.empty() && cfg_.balance == "time" ? "seconds (profiled)"
                        : cfg_.split_at.empty() && cfg_.balance == "blocks" ? "blocks"
                                                                              : "parameters"},
          {"stage_partition", stages},
          {"bubble_fraction", bubble_sum / rows.size()},
          {"bubble_fraction_theory", theoretical_bubble(micro, ctx_.stages)},
          {"ranks", ranks}};
}

}  // namespace parallax
