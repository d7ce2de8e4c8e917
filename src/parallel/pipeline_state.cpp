// Pipeline's collective parts outside the step: consolidated checkpoints (each stage's parameters,
// buffers and optimizer state broadcast from its owner) and the per-stage summary figures.
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <set>

#include "distributed/collectives.h"
#include "optim/optimizer.h"
#include "parallel/pipeline.h"
#include "parallel/schedule_simulator.h"

namespace parallax {

void Pipeline::save(torch::serialize::OutputArchive& archive) {
  if (ctx_.stages == 1) return SingleDevice::save(archive);
  // Other stages' blocks exist on this rank only while the checkpoint is written.
  for (size_t b = 0; b < model_->blocks().size(); ++b)
    if (!owns(b)) materialize_block(b);
  auto all = model_->parameters();
  auto whole = make_optimizer(cfg_, all);
  // Every stage steps in lockstep, so this stage's state tells every stage's names and step.
  // Piece by piece, each broadcast from the rank holding it.
  const auto mine = params_.empty() ? std::nullopt : get_param_state(*optimizer_, params_.front());
  const auto by_block = model_->parameter_indices_by_block();
  for (int g = 0; g < layout_.pieces(); ++g) {
    const int st = layout_.owner(g);
    const bool owner = st == ctx_.stage;
    std::vector<torch::Tensor> tensors;
    std::vector<size_t> piece_params;
    for (size_t b = partition_.cuts[g]; b < partition_.cuts[g + 1]; ++b) {
      for (const auto& p : model_->blocks()[b].block->parameters()) tensors.push_back(p);
      for (const auto& t : model_->blocks()[b].block->buffers()) tensors.push_back(t);
      piece_params.insert(piece_params.end(), by_block[b].begin(), by_block[b].end());
    }
    std::vector<std::pair<torch::Tensor, ParamState>> states;
    if (mine) {
      for (size_t k : piece_params) {
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
    // Into this rank's model and `states`.
    broadcast_coalesced(ctx_.pp_pg, tensors, st, "stage state for the checkpoint");
    for (const auto& [p, state] : states) set_param_state(*whole, p, state);
  }
  save_with(archive, *whole);  // the other stages' blocks are freed once it is written
}

void Pipeline::load(torch::serialize::InputArchive& archive) {
  if (ctx_.stages == 1) {
    SingleDevice::load(archive);
  } else {
    auto whole = make_optimizer(cfg_, model_->parameters());
    load_with(archive, *whole);  // the whole model; this stage keeps its own optimizer state
    load_tied_copies(archive, *whole);
    for (const auto& p : params_)
      if (const auto state = get_param_state(*whole, p)) set_param_state(*optimizer_, p, *state);
  }
  if (reducer_) reducer_->hook_parameters();  // hybrid: the loaded parameters' new accumulators
}

std::vector<StatePiece> Pipeline::state_pieces(const OptimizerStateSpec* load) {
  if (ctx_.stages == 1) return SingleDevice::state_pieces(load);
  std::vector<StatePiece> out;
  const bool writes = ctx_.dp_rank == 0;
  std::set<const void*> mine;
  for (const auto& p : params_) mine.insert(p.unsafeGetTensorImpl());
  for (const auto& p : model_->named_parameters())
    if (mine.count(p.value().unsafeGetTensorImpl()))
      add_kept_pieces(out, p.value(), {whole_part(p.key(), p.value())}, writes, optimizer_.get(),
                      load);
  // A tied weight's copy is the owner's parameter: filled from it, written by the owner's rank.
  for (const auto& t : stage_ties_) {
    if (t.owner) continue;
    const auto& tie = model_->ties()[t.tie];
    const std::string name = model_->blocks()[tie.owner].name + "." + tie.name;
    add_kept_pieces(out, t.copy, {whole_part(name, t.copy)}, false, optimizer_.get(), load);
  }
  std::set<const void*> own_buffers;
  for (const auto& b : buffers_) own_buffers.insert(b.unsafeGetTensorImpl());
  add_buffer_pieces(out, writes, [&](const torch::Tensor& b) {
    return own_buffers.count(b.unsafeGetTensorImpl()) > 0;
  });
  return out;
}

int64_t Pipeline::stage_parameters(int stage) const {
  int64_t n = 0;
  for (int g = 0; g < layout_.pieces(); ++g)
    if (layout_.owner(g) == stage) n += piece_numel_[g];
  return n;
}

nlohmann::json Pipeline::details() const {
  // One row per rank: stage, then its figures, gathered so rank 0 can write them all.
  const std::vector<double> row = figures_row();
  const auto rows =
      all_gather_rows(ctx_.world_pg, ctx_.world, torch::tensor(row, torch::kDouble), ctx_.device);
  const int micro = static_cast<int>(train_micro_.size());
  double bubble_sum = 0;
  std::vector<std::vector<ActionTimes>> profiled(ctx_.stages,
                                                 std::vector<ActionTimes>(layout_.chunks));
  const nlohmann::json ranks = ranks_json(rows, profiled, bubble_sum);
  // The zero-bubble paper's way: this schedule played out with each rank's profiled F, B, I and
  // W times, transfers free.
  const SimulatedStep sim = simulate_schedule(plan_, layout_, micro, profiled);
  // No timed step (all within --timing-warmup): no bubble was measured, so none is reported.
  const bool timed = timed_steps_ > 0;
  return {
      {"schedule", cfg_.strategy == "model" ? "model" : cfg_.pipeline_schedule},
      {"stages", ctx_.stages},
      {"virtual_stages", layout_.chunks},
      {"replicas", ctx_.dp_size},
      {"micro_batches", micro},
      {"micro_batch_size", train_micro_.front()},
      {"split_at", cut_names()},
      {"partition_by", cfg_.split_at.empty() ? cfg_.balance : "split-at"},
      {"cost_unit", cfg_.split_at.empty() && cfg_.balance == "time"     ? "seconds (profiled)"
                    : cfg_.split_at.empty() && cfg_.balance == "blocks" ? "blocks"
                                                                        : "parameters"},
      {"stage_partition", pieces_json()},
      {"bubble_fraction", timed ? nlohmann::json(bubble_sum / rows.size()) : nullptr},
      {"bubble_fraction_theory", bubble_theory(schedule_name_, micro, ctx_.stages, layout_.chunks)},
      {"bubble_fraction_profiled", timed ? nlohmann::json(sim.bubble) : nullptr},
      {"planned_on", planned_on_profile_ ? "profiled times of step 2" : "unit times"},
      // A tied weight (GPT's embedding and head) held on two ranks, its gradients summed.
      {"tied_weights_across_ranks", !stage_ties_.empty()},
      {"ranks", ranks}};
}

std::vector<double> Pipeline::figures_row() const {
  const double steps = std::max<int64_t>(1, timed_steps_);
  std::vector<double> row{static_cast<double>(ctx_.stage),
                          static_cast<double>(ctx_.dp_rank),
                          totals_.wall_s / steps,
                          totals_.busy_s / steps,
                          totals_.recv_wait_s / steps,
                          totals_.send_wait_s / steps,
                          static_cast<double>(peak_activation_bytes_),
                          static_cast<double>(held_micro_batches_)};
  for (int c = 0; c < layout_.chunks; ++c)  // mean seconds of one F, B, I, W action, per chunk
    for (int k = 0; k < 4; ++k) {
      const bool seen = static_cast<size_t>(c) < totals_.action_n.size() && totals_.action_n[c][k];
      row.push_back(seen ? totals_.action_s[c][k] / totals_.action_n[c][k] : 0);
    }
  return row;
}

nlohmann::json Pipeline::ranks_json(const std::vector<torch::Tensor>& rows,
                                    std::vector<std::vector<ActionTimes>>& profiled,
                                    double& bubble_sum) const {
  // A replica's step lasts as long as its slowest rank's pass: a rank done sooner idles until
  // the step's closing sync, and that idle is bubble too (as the theories count it).
  std::vector<double> makespan(ctx_.dp_size, 0);
  for (const auto& r : rows) {
    const double* v = r.data_ptr<double>();
    makespan[static_cast<int>(v[1])] = std::max(makespan[static_cast<int>(v[1])], v[2]);
  }
  nlohmann::json ranks = nlohmann::json::array();
  for (const auto& r : rows) {
    const double* v = r.data_ptr<double>();
    const double span = makespan[static_cast<int>(v[1])];
    const double bubble = span > 0 ? (span - v[3]) / span : 0;
    bubble_sum += bubble;
    ranks.push_back(rank_json(v, bubble, profiled));
  }
  return ranks;
}

nlohmann::json Pipeline::rank_json(const double* v, double bubble,
                                   std::vector<std::vector<ActionTimes>>& profiled) const {
  const int stage = static_cast<int>(v[0]), replica = static_cast<int>(v[1]);
  nlohmann::json chunks = nlohmann::json::array();
  double mean[4] = {};
  for (int c = 0; c < layout_.chunks; ++c) {
    const double* a = v + 8 + 4 * c;
    if (replica == 0) profiled[stage][c] = {a[0], a[1], a[2], a[3]};
    chunks.push_back({{"piece", layout_.piece(stage, c)},
                      {"forward_s", a[0]},
                      {"backward_s", a[1]},
                      {"input_grad_s", a[2]},
                      {"weight_grad_s", a[3]}});
    for (int k = 0; k < 4; ++k) mean[k] += a[k] / layout_.chunks;
  }
  return {{"stage", stage},
          {"replica", replica},
          {"step_s", v[2]},
          {"busy_s", v[3]},
          {"recv_wait_s", v[4]},
          {"send_wait_s", v[5]},
          {"bubble_fraction", bubble},
          {"peak_activation_bytes", static_cast<int64_t>(v[6])},
          {"held_micro_batches", static_cast<int>(v[7])},
          {"held_micro_batches_theory", peak_in_flight(plan_[stage])},
          {"parameters", stage_parameters(stage)},
          {"forward_s", mean[0]},  // per action, the mean over its chunks
          {"backward_s", mean[1]},
          {"input_grad_s", mean[2]},
          {"weight_grad_s", mean[3]},
          {"chunks", chunks}};
}

nlohmann::json Pipeline::pieces_json() const {
  nlohmann::json pieces = nlohmann::json::array();
  const auto& blocks = model_->blocks();
  for (int g = 0; g < layout_.pieces(); ++g) {
    double cost = 0;
    const int64_t params = piece_numel_[g];
    for (size_t b = partition_.cuts[g]; b < partition_.cuts[g + 1]; ++b) cost += block_costs_[b];
    pieces.push_back({{"piece", g},
                      {"rank", layout_.owner(g)},
                      {"chunk", layout_.chunk_of(g)},
                      {"first_block", blocks[partition_.cuts[g]].name},
                      {"last_block", blocks[partition_.cuts[g + 1] - 1].name},
                      {"blocks", partition_.cuts[g + 1] - partition_.cuts[g]},
                      {"parameters", params},
                      {"cost", cost}});
  }
  return pieces;
}

std::vector<std::string> Pipeline::cut_names() const {
  std::vector<std::string> cut;
  const auto& blocks = model_->blocks();
  for (int g = 1; g < layout_.pieces(); ++g) cut.push_back(blocks[partition_.cuts[g]].name);
  return cut;
}

}  // namespace parallax
