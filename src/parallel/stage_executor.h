// StageExecutor: runs one pipeline rank's list of actions (schedule.h): forward, backward, or
// the split input- and weight-gradient passes of its chunks' blocks on micro-batches,
// activations and gradients moved with c10d send/recv (or handed over in memory between two
// chunks of the same rank, at the bottom of ZB-V's V). Receives are posted at the pass's start
// (Gloo) or one action ahead (NCCL), so a transfer overlaps the compute before it; sends are waited
// for only at the end of the pass. Busy and wait times come from a StreamClock (CUDA events on a
// GPU) and are read by settle() once the step has synced.
#pragma once
#include <torch/types.h>

#include <array>
#include <functional>
#include <vector>

#include "data/batch.h"
#include "distributed/torch_compat.h"
#include "metrics/stream_clock.h"
#include "parallel/mixed_precision.h"
#include "parallel/schedule.h"
#include "parallel/split_backward.h"

namespace parallax {

class ModelBlocks;
class StepTrace;

// What one pass over a schedule cost this stage (the times once settle() has read them).
struct StageTimes {
  double wall_s = 0;  // first action to the last send done
  double busy_s = 0;  // forward and backward compute
  // Of which per chunk and action kind (Action::Kind: F, B, I, W): seconds, and actions.
  std::vector<std::array<double, 4>> action_s;
  std::vector<std::array<int, 4>> action_n;
  double recv_wait_s = 0;             // waiting for activations or gradients from a neighbour
  double send_wait_s = 0;             // waiting at the end for sends to be taken
  int64_t peak_activation_bytes = 0;  // heap growth over the pass, sampled after each forward
  int held_micro_batches = 0;         // most micro-batches with activations held at once
  torch::Tensor loss_sum, correct;    // last stage: sums over the batch (on the device)
};

struct ChunkSpec {
  size_t begin = 0, end = 0;              // blocks [begin, end)
  int piece = 0;                          // which piece of the model (layout.piece(stage, chunk))
  std::vector<int64_t> in_sample_shape;   // one sample's activation entering (piece > 0)
  std::vector<int64_t> out_sample_shape;  // one sample's activation leaving (not the last piece)
  // Whether autocast leaves the activation entering / leaving in its compute dtype (a block
  // ending in a convolution or linear), or in the weights' (a residual sum over a transformer's
  // fp32 stream): each crosses the wire in the dtype the next block would have had on one device.
  bool in_reduced = true, out_reduced = true;
};

struct StageSpec {
  int stage = 0;
  PipelineLayout layout;
  std::vector<ChunkSpec> chunks;  // this rank's, by chunk index
};

// The pipeline's point-to-point groups, one per kind and direction, so that each group carries a
// pair of ranks' messages one way only, in the same order at both ends (NCCL's point-to-point
// streams run in order and ignore tags; one group for both ways can deadlock there).
struct StageGroups {
  compat::Group activations;          // to a higher stage
  compat::Group gradients;            // to a lower stage
  compat::Group activations_reverse;  // to a lower stage (interleaved's ring, ZB-V's way up)
  compat::Group gradients_reverse;    // to a higher stage
};

class StageExecutor {
 public:
  StageExecutor(ModelBlocks& model, StageSpec spec, StageGroups groups, torch::Device device,
                StepTrace* trace);  // null: no trace

  // Runs `actions` over the batch cut into micro-batches of `micro_sizes`. Training: the loss of
  // micro-batch m is weighted by its share of the batch, so gradients add up to the batch
  // mean's. Evaluation (train false): forward only, without autograd.
  StageTimes run(const std::vector<Action>& actions, const std::vector<int64_t>& micro_sizes,
                 const Batch& batch, bool train);

  // Reads the last run()'s clock into its times and lays its spans on the timeline. After the
  // step's sync (its loss on the host), so that reading the device's events waits for nothing.
  void settle(StageTimes& t);

  // Bytes held that are not activations (the stage's gradients, which 1F1B's backward passes
  // create between forwards): their growth during a run is left out of peak_activation_bytes.
  void set_not_activations(std::function<int64_t()> f) { not_activations_ = std::move(f); }
  // --precision: forwards under autocast; activations and their gradients cross stages in the
  // compute dtype (half the bytes of fp32).
  void set_precision(const Precision& p);
  // fp16: the last stage's loss is multiplied by this before backward.
  void set_loss_scale(double scale) { loss_scale_ = scale; }

  // Holds the model's first piece (reads the images), its last (computes the loss).
  bool first() const { return spec_.layout.owner(0) == spec_.stage; }
  bool last() const { return spec_.layout.owner(spec_.layout.pieces() - 1) == spec_.stage; }

 private:
  std::function<int64_t()> not_activations_;
  torch::Tensor& buffer(std::vector<torch::Tensor>& pool, int m, int64_t rows,
                        const std::vector<int64_t>& sample_shape, torch::ScalarType dtype);
  // A boundary's dtype on the wire: autocast's compute dtype where it leaves the activation in
  // it (ChunkSpec::in_reduced, out_reduced), else the parameters'.
  torch::ScalarType wire_dtype(bool reduced) const;
  void post_recv(const Action& a, const std::vector<int64_t>& micro_sizes);
  int slot(const Action& a) const { return a.chunk * micro_ + a.micro; }
  // The input of a forward (images, handed over, or received) and the output gradient of a
  // backward (undefined for the loss), waiting for a receive where there is one.
  torch::Tensor forward_input(const Action& a, const Batch& batch,
                              const std::vector<int64_t>& offsets,
                              const std::vector<int64_t>& sizes);
  void mark_busy(const Action& a, int from_mark);  // a compute span from a mark to now
  // The pieces of run(): the pass's per-slot state reset, one action of each kind, and the wait
  // for the pass's sends at its end.
  void begin_pass(const std::vector<Action>& actions, const std::vector<int64_t>& micro_sizes);
  void run_forward(const Action& a, const Batch& batch, const std::vector<int64_t>& offsets,
                   const std::vector<int64_t>& sizes, int64_t total, bool train, StageTimes& t);
  void run_weight(const Action& a);
  void run_backward(const Action& a);
  void wait_for_sends();
  // The last piece's forward: the loss and accuracy of its `rows` of `total`, and (training) the
  // weighted loss to backward from.
  void add_loss(const Action& a, const torch::Tensor& y, const torch::Tensor& labels, int64_t rows,
                int64_t total, bool train, StageTimes& t);
  // Any other piece's: `y` (made the wire's dtype) handed to the next piece or sent to its rank.
  void pass_activation(const Action& a, torch::Tensor& y, bool train);
  torch::Tensor output_grad(const Action& a);
  // Waits for a receive of action `a`'s, timed as receive wait and laid on the trace as `what`.
  torch::Tensor timed_receive(compat::Work& work, const torch::Tensor& buffer, const char* what,
                              const Action& a);
  // Passes a chunk's input gradient to the piece before it (handed over or sent).
  void pass_input_grad(const Action& a, const torch::Tensor& grad);
  // Waits for a receive; the data it brought, on the device.
  torch::Tensor received(compat::Work& work, const torch::Tensor& buffer);
  compat::Work send(const compat::Group& group, const torch::Tensor& t, int peer, int tag);
  // The group for an activation (or a gradient) going from rank `from` to rank `to`.
  const compat::Group& group_for(bool activation, int from, int to) const;
  // One tiny message each way between neighbours, in a fixed order along the pipeline, so that
  // NCCL sets up each pair's communicator before a receive posted one action ahead can block it.
  void connect_neighbours();
  struct Span {
    const char* lane;
    std::string name;
    int from, to;  // clock marks
  };
  void span(const char* lane, std::string name, int from, int to);

  ModelBlocks& model_;
  StageSpec spec_;
  StageGroups groups_;
  torch::Device device_;
  torch::ScalarType model_dtype_;  // of the parameters: the loss is computed in it
  Precision precision_;
  double loss_scale_ = 1;
  // Gloo moves host memory only for send/recv: CUDA tensors go through pinned host buffers.
  bool stage_through_host_ = false;
  bool connected_ = false;
  bool post_all_receives_ = true;  // at the pass's start (Gloo), else one action ahead (NCCL)
  StepTrace* trace_;
  StreamClock clock_;
  std::vector<Span> spans_;                   // this pass's, laid on the timeline by settle()
  std::vector<int> recv_waits_, sends_wait_;  // pairs of marks: [from, to, from, to ...]
  std::vector<int> busy_;
  std::vector<Action> busy_action_;  // per busy pair
  int pass_end_ = -1;
  int micro_ = 0;       // of the current pass
  bool split_ = false;  // the pass splits backwards into I and W
  // Per chunk and micro-batch (slot()), reused from step to step: receive buffers and their
  // pending receives.
  std::vector<torch::Tensor> act_in_, grad_in_;
  std::vector<compat::Work> act_recv_, grad_recv_;
  // Per slot, within a pass: the chunk's input (for its gradient), what to backward, what a
  // chunk of this rank handed to the next (or previous) one, and the W that an I left.
  std::vector<torch::Tensor> inputs_, outputs_, handed_act_, handed_grad_;
  std::vector<std::shared_ptr<PendingWeightGradient>> pending_w_;
  std::vector<compat::Work> sends_;
  std::vector<torch::Tensor> sent_;  // kept alive until their sends complete
};

}  // namespace parallax
