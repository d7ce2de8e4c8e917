// Pipeline schedules as data: for one rank, the ordered list of actions on micro-batches and
// model chunks. Pure functions, tested against tables; one executor walks any of them.
//
// Actions: F (forward), B (the full backward: input and weight gradients together), and the
// zero-bubble split of B into I (the input gradient only, on the critical path: the previous
// chunk waits for it; the paper's "B") and W (the weight gradient, from the saved inputs and the
// output gradient I left, which fills bubbles).
//
// Chunks: the model is cut into stages x chunks pieces (--virtual-stages chunks per rank). A
// PipelineLayout says which rank holds which piece: rank s holds pieces s, s+p, s+2p, ...
// (interleaved) or, for ZB-V's two chunks, pieces s and 2p-1-s (the V: the forward runs down the
// ranks, then back up, and the loss is on rank 0).
#pragma once
#include <array>
#include <string>
#include <vector>

namespace parallax {

struct Action {
  enum Kind { kForward, kBackward, kInput, kWeight } kind;
  int micro;      // micro-batch index, 0-based
  int chunk = 0;  // this rank's chunk, 0-based (0 unless --virtual-stages > 1)
  bool operator==(const Action& o) const {
    return kind == o.kind && micro == o.micro && chunk == o.chunk;
  }
};

struct PipelineLayout {
  int stages = 1;       // ranks of the pipeline
  int chunks = 1;       // per rank
  bool v_shape = false;  // ZB-V's placement (chunks == 2)
  int pieces() const { return stages * chunks; }
  int piece(int stage, int chunk) const;   // the model piece rank `stage` holds as `chunk`
  int owner(int piece) const;              // the rank holding a piece
  int chunk_of(int piece) const;           // which of its owner's chunks it is
};

// The schedule names --pipeline-schedule takes, and the layout each wants.
const std::vector<std::string>& schedule_names();
PipelineLayout layout_for(const std::string& schedule, int stages, int chunks);
// "" when (schedule, micro, layout) can run, else why not (one line, for a UserError).
std::string schedule_problem(const std::string& schedule, int micro, const PipelineLayout& l);

// Rank `stage`'s actions for one training step under `schedule`.
std::vector<Action> make_schedule(const std::string& schedule, int micro,
                                  const PipelineLayout& layout, int stage);

// GPipe: every micro-batch forward, then every backward (in the same order). A stage holds the
// activations of all `micro` micro-batches at once.
std::vector<Action> gpipe_schedule(int micro, int stages, int stage);

// 1F1B (PipeDream-Flush): stage s runs min(stages - s - 1, micro) forwards to fill the pipe, then
// alternates one forward and one backward, then drains the backwards. Same bubble as GPipe, but a
// stage holds at most stages - s micro-batches' activations.
std::vector<Action> one_f_one_b_schedule(int micro, int stages, int stage);

// Interleaved 1F1B (Megatron-LM): forwards go round the ranks' chunks in groups of `stages`
// micro-batches (chunk 0 of micro-batches 0..p-1, then chunk 1 of them, ...), backwards likewise
// from the last chunk; 2(p-s-1) + (v-1)p warm-up forwards. Needs micro a multiple of stages.
std::vector<Action> interleaved_schedule(int micro, int stages, int chunks, int stage);

// ZB-H1: 1F1B's order with each B split into I and W; stage s runs its first W only after s
// further I's, and the W's left over fill the drain. 1F1B's peak of held micro-batches (p).
std::vector<Action> zb_h1_schedule(int micro, int stages, int stage);

// ZB-H2: ZB-H1 with p - 1 - s more warm-up forwards (filling the wait for the first gradient)
// and W's lagging 2s I's behind: up to 2p - 1 micro-batches held, twice 1F1B's.
std::vector<Action> zb_h2_schedule(int micro, int stages, int stage);

// ZB-V (two chunks per rank in the V layout), from the zero-bubble paper's heuristic played out
// on unit costs (F = I = W per chunk, transfers free), or on `times[rank][chunk]` = {F, I, W}
// seconds where given: each rank takes the ready I of the earliest micro-batch (the later piece
// first), else a ready F while it holds fewer than 2p micro-batch chunks (1F1B's peak of p
// micro-batches, in chunks of half a stage; the later piece first), else its oldest W. Every
// rank's list at once.
std::vector<std::vector<Action>> zb_v_schedules(
    int micro, int stages,
    const std::vector<std::vector<std::array<double, 3>>>* times = nullptr);

// Forward only (evaluation): F0 .. F(micro-1) through chunk 0, then chunk 1, ...
std::vector<Action> forward_schedule(int micro, const PipelineLayout& layout, int stage);
std::vector<Action> forward_schedule(int micro);

// "F0 F1 I0 W0 F1.1": kind, micro-batch, and ".chunk" for chunks after the first.
std::string to_string(const std::vector<Action>& actions);
std::string to_string(const Action& a);

// Most micro-batch chunks whose forward has run and whose weight gradient (B or W) has not, at
// any point: how many chunks' activations the rank holds at its peak.
int peak_in_flight(const std::vector<Action>& actions);

// The schedule's bubble with equal forward, input- and weight-gradient times per stage (F = I =
// W, B = 2F) in a step that ends with a sync, as a share of the step: gpipe, 1f1b
// (p-1)/(m+p-1); interleaved (p-1)/(vm+p-1); ZB-H1 and ZB-H2 (p-1)/(3m+p-1), the start-up that
// no schedule can fill; ZB-V (p-1)/(6m+p-1), its start-up in chunks of half a stage. (The
// zero-bubble paper's zero for ZB-H2 and ZB-V assumes the optimizer step's sync is gone.)
double bubble_theory(const std::string& schedule, int micro, int stages, int chunks);

}  // namespace parallax
