// Pipeline: the model cut into pieces, one or more chunks per rank of a pipeline group, fed
// micro-batches by a schedule (gpipe, 1f1b, interleaved-1f1b, zb-h1, zb-h2, zb-v). `model` is the
// pipeline with one micro-batch (naive model parallelism); `hybrid` replicates the pipeline --dp
// times and reduces each stage's gradients over its replicas with the DDP reducer.
#pragma once
#include <memory>
#include <vector>

#include "models/partition.h"
#include "parallel/grad_reducer.h"
#include "parallel/schedule.h"
#include "parallel/schedule_simulator.h"
#include "parallel/single.h"
#include "parallel/stage_executor.h"

namespace parallax {

class Pipeline : public SingleDevice {
 public:
  // sample_shape: one input image's shape (C, H, W), for the shapes crossing stages and profiling.
  Pipeline(const Config& cfg, const DistContext& ctx, std::shared_ptr<ModelBlocks> model,
           const std::vector<int64_t>& sample_shape);

  StepStats train_step(const Batch& batch) override;
  EvalStats evaluate(Loader& test) override;
  MemoryStats memory() const override;
  // Consolidated: every stage's parameters and optimizer state are gathered (a collective) and
  // rank 0 writes the single-device layout, which any strategy resumes.
  void save(torch::serialize::OutputArchive& archive) override;
  void load(torch::serialize::InputArchive& archive) override;
  void checkpoint_written() override { place_model(); }  // frees the other stages again
  // Sharded: this stage's blocks (replica 0 writes them) and its tied copies' (the owner writes).
  std::vector<StatePiece> state_pieces(const OptimizerStateSpec* load) override;
  // A collective: every rank's stage figures are gathered for rank 0's summary.
  nlohmann::json details() const override;

 protected:
  // Its own stage's blocks on the device; every other block's tensors emptied (freed).
  void place_model() override;

 private:
  static std::vector<torch::Tensor> state_of(const torch::nn::Module& block);  // params, buffers
  bool owns(size_t block) const;
  int piece_of(size_t block) const;
  int64_t stage_parameters(int stage) const;  // the elements of a stage's pieces' parameters
  void release_block(size_t block);
  void materialize_block(size_t block);  // uninitialised, on the device (checkpoints)
  void choose_partition(const std::vector<int64_t>& sample_shape);
  void check_batch_norm_sizes(const std::vector<std::vector<int64_t>>& shapes) const;
  torch::Tensor sum_over_world(torch::Tensor t, const char* purpose) const;

  // The constructor's steps once the partition is chosen: each piece's parameter elements (and
  // this rank's parameters' indices, returned), every block's tensor sizes, this stage's
  // parameters and buffers, the executor over its chunks, and hybrid's replicas made equal.
  std::vector<size_t> tally_pieces(const std::vector<torch::Tensor>& all);
  void record_block_sizes();
  void keep_stage_state(const std::vector<torch::Tensor>& all, std::vector<size_t> mine);
  StageSpec stage_spec(const std::vector<std::vector<int64_t>>& shapes) const;
  void make_executor(const std::vector<std::vector<int64_t>>& shapes);
  void join_replicas();

  // Tied weights (GPT's embedding and head) on two different ranks: the user's rank holds a copy
  // of its own, and the two gradients are summed between the two ranks every step (Megatron's
  // embedding group), so that both copies take the same update (pipeline_ties.cpp).
  struct StageTie {
    size_t tie = 0;      // index into model_->ties()
    bool owner = false;  // this rank holds the owner block (else the user's copy)
    int peer = 0;        // the other rank's stage
    torch::Tensor copy;  // the user's copy (undefined on the owner's rank)
    torch::Tensor sent, received;  // this rank's gradient on the wire and the peer's: kept
  };
  void split_ties();  // before place_model(): the copy is made while every block is whole
  void sum_tied_gradients();
  // From the owner's weight and optimizer state in the checkpoint.
  void load_tied_copies(torch::serialize::InputArchive& archive, torch::optim::Optimizer& whole);
  // params_ without the tied copies: what this stage adds to the model's gradient norm.
  std::vector<torch::Tensor> norm_params() const;
  std::vector<StageTie> stage_ties_;

  // train_step()'s steps: gradients cleared before the pass and finished after it, the sums
  // reduced over the world, the pass's times added up, and the step's figures read back.
  void clear_stage_grads();
  void finish_gradients();
  torch::Tensor step_sums(const StageTimes& t, const Batch& batch) const;
  // This rank's share of the whole model's squared gradient norm (the step sums add the world's):
  // the squares of `counted`'s gradients, the parameters this stage counts. A parameter held on
  // two stages (a tied matrix's copy) must be counted on one of them only; clipping still
  // scales every gradient of the stage.
  torch::Tensor squared_norm_share(const std::vector<torch::Tensor>& counted) const;
  void record_pass_times(const StageTimes& t);
  void read_step_sums(const torch::Tensor& sums, const StageTimes& t, const ReduceStats& reduced,
                      StepStats& stats) const;

  // details()'s parts: this rank's figures as one row, every rank's entry from the gathered rows
  // (their profiled action times into `profiled`, replica 0's), the pieces, the cut's blocks.
  std::vector<double> figures_row() const;
  nlohmann::json ranks_json(const std::vector<torch::Tensor>& rows,
                            std::vector<std::vector<ActionTimes>>& profiled,
                            double& bubble_sum) const;
  nlohmann::json rank_json(const double* v, double bubble,
                           std::vector<std::vector<ActionTimes>>& profiled) const;
  nlohmann::json pieces_json() const;
  std::vector<std::string> cut_names() const;

  Config cfg_;
  DistContext ctx_;
  std::string schedule_name_;          // --pipeline-schedule (gpipe for --strategy model)
  PipelineLayout layout_;              // which rank holds which of the partition's pieces
  Partition partition_;                // into layout_.pieces() pieces
  std::vector<double> block_costs_;    // what the partition balanced (or profiled, for the record)
  std::vector<bool> reduced_outputs_;  // per block: autocast leaves its output in compute dtype
  std::vector<torch::Tensor> params_;  // this stage's
  std::vector<torch::Tensor> buffers_;
  std::vector<int64_t> piece_numel_;  // per piece: its parameters' elements
  // Per block: the sizes of its parameters, then buffers (to rebuild a freed block).
  std::vector<std::vector<std::vector<int64_t>>> block_sizes_;
  std::vector<int64_t> train_micro_;
  std::vector<std::vector<Action>> plan_;  // every rank's actions (for the theories)
  std::vector<Action> schedule_;           // this rank's
  bool planned_on_profile_ = false;
  // ZB-V's plan from profiled times (a collective): its unit-cost plan leaves idle time when W
  // is shorter than I, as on a CPU.
  void replan_zb_v(const StageTimes& t);
  std::unique_ptr<StageExecutor> executor_;
  std::unique_ptr<GradReducer> reducer_;  // hybrid: over this stage's data-parallel replicas

  // Totals over the timed steps (after --timing-warmup).
  int64_t steps_ = 0, timed_steps_ = 0;
  StageTimes totals_;
  int64_t peak_activation_bytes_ = 0;
  int held_micro_batches_ = 0;
};

}  // namespace parallax
