// Zero (ZeRO-1/2): data parallel with the optimizer state, and at stage 2 the gradients, split
// over ranks. Gradients are reduce-scattered; each rank updates its slice of every gradient
// bucket, then the parameters are all-gathered, so every rank again holds the whole model,
// bitwise equal. The all-gathers overlap the next forward: each block waits only for the buckets
// that hold its own parameters, and the first layers' buckets are gathered first.
#pragma once
#include <array>
#include <memory>

#include "parallel/data_parallel.h"

namespace parallax {

class Zero : public DataParallel {
 public:
  Zero(const Config& cfg, const DistContext& ctx, std::shared_ptr<ModelBlocks> model);

  EvalStats evaluate(Loader& test) override;
  MemoryStats memory() const override;
  // Checkpoints are consolidated: save() gathers every rank's optimizer slices (a collective: every
  // rank calls it) into the single-device layout, so any strategy and world size can resume.
  void save(torch::serialize::OutputArchive& archive) override;
  void load(torch::serialize::InputArchive& archive) override;
  // Sharded: the host. The optimizer state's chunks and the parameters go from there straight
  // into this rank's shards and buckets; the whole archive never sits on the device.
  torch::Device checkpoint_load_device(const torch::Device& rank_device) const override;
  // Sharded: each rank's chunks of the parameters and of their optimizer state, as flat parts of
  // the parameters (a load into ZeRO-1/2 fills the whole parameters, which every rank holds).
  std::vector<StatePiece> state_pieces(const OptimizerStateSpec* load) override;

 protected:
  // After a load (sharded): the parameters are copied into their buckets, the buffers moved.
  void place_model() override;
  double update() override;
  void settle_parameters() override { wait_gathers(); }

  // The parameters become views into per-bucket flat buffers (the gradient buckets' layout), so
  // one all-gather per bucket refreshes them.
  void bind_parameters_to_flat_buffers();
  void step_shards();  // the optimizer over this rank's chunks, with the reducer's averages
  void find_decayed_parts();  // adamw: decayed_parts_, from the bucket layout
  void launch_gathers();
  void wait_gathers(const std::vector<size_t>& buckets);  // and time the wait
  void wait_gathers();                                    // all of them
  double exposed_comm_s() override;
  // The parts of the parameters that bucket b's chunk on this rank holds, as elements of it.
  std::vector<KeptPart> chunk_parts(size_t b) const;
  // ZeRO-3: the chunks are the only copy of the parameters (a load fills them, not the whole).
  virtual bool chunks_hold_parameters() const { return false; }

  Config cfg_;
  bool sharded_ = false;            // false with one rank: plain single-device training
  bool gathers_on_device_ = false;  // NCCL: all-gathers timed by CUDA events (else host time)
  std::vector<torch::Tensor> flat_params_;  // per bucket, padded to world x chunk
  std::vector<torch::Tensor> shards_;  // per bucket: this rank's chunk (the optimizer's params)
  // adamw: per bucket, the parts of this rank's chunk that hold decayed parameters (2-D and up);
  // empty without decoupled decay.
  std::vector<std::vector<std::pair<int64_t, int64_t>>> decayed_parts_;
  std::vector<compat::Work> gathers_;  // per bucket: its all-gather in flight, or null
  std::vector<std::vector<size_t>> block_buckets_;  // per block: the buckets of its parameters
  std::vector<size_t> all_buckets_;
  // When the compute stream (CPU: the host) began and ended waiting for gathers: pairs of marks,
  // read by exposed_comm_s() after the step's sync.
  StreamClock gather_clock_;
  std::vector<int> gather_waits_;
  // With a trace: each all-gather's launch and completion, marks of a clock begun at the launch.
  // A step's gathers complete in the next step's forward, and are laid on the trace after that
  // step's sync, while that step's own gathers are in flight: two sets, used in turn.
  struct Flights {
    std::unique_ptr<StreamClock> clock;
    std::vector<std::array<int, 2>> marks;  // per bucket: launched, done
    bool pending = false;                   // launched, not laid on the trace yet
  };
  Flights flights_[2];
  int current_flights_ = 0;  // the set of the gathers launched last
  void lay_gathers_on_trace(Flights& flights);
};

}  // namespace parallax
