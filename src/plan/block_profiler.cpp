// profile_blocks(): chained forward and backward with per-boundary timestamps, plus each block
// alone for its input gradient. Running statistics are put back afterwards.
#include "plan/block_profiler.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "metrics/stream_clock.h"
#include "models/blocks.h"
#include "models/task_loss.h"
#include "optim/optimizer.h"
#include "plan/fastest_run.h"

namespace parallax {
namespace {

using Clock = ProfileClock;

void sync(const torch::Device& d, const torch::Tensor& t) {
  if (d.is_cuda()) t.sum().item<double>();
}

struct SavedBuffers {
  explicit SavedBuffers(ModelBlocks& m) : model(m) {
    for (const auto& t : m.buffers()) saved.push_back(t.clone());
  }
  ~SavedBuffers() {
    torch::NoGradGuard no_grad;
    auto buffers = model.buffers();
    for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(saved[i]);
    for (auto& p : model.parameters()) p.mutable_grad().reset();
  }
  ModelBlocks& model;
  std::vector<torch::Tensor> saved;
};

torch::Tensor input_of(const ComputeProbe& probe, int64_t rows) {
  std::vector<int64_t> shape{rows};
  shape.insert(shape.end(), probe.sample.begin(), probe.sample.end());
  if (probe.model->token_input()) return probe.model->example_input(shape, probe.device);
  auto x = torch::full(shape, 0.5, torch::TensorOptions().dtype(probe.model->scalar_type()).device(probe.device));
  if (probe.channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  return x;
}

// Labels for these logits: one per row, or one per position of a language model's rows.
torch::Tensor labels_of(const ComputeProbe& probe, const torch::Tensor& logits) {
  auto shape = logits.sizes().vec();
  shape.pop_back();
  return torch::zeros(shape, torch::TensorOptions().dtype(torch::kLong).device(probe.device));
}

// One chained step: per-block forward seconds, per-block backward seconds, loss seconds.
struct Chained {
  std::vector<double> fwd, bwd;
  double loss = 0;
  std::vector<int64_t> out_bytes;
};

Chained chained_step(const ComputeProbe& probe, int64_t rows) {
  auto& model = *probe.model;
  const size_t nb = model.blocks().size();
  Chained c;
  c.fwd.resize(nb);
  c.bwd.assign(nb, 0);
  std::vector<torch::Tensor> outs;
  torch::Tensor logits, loss;
  auto x = input_of(probe, rows);
  {
    AutocastGuard autocast(probe.precision, probe.device);
    for (size_t b = 0; b < nb; ++b) {
      const auto t0 = Clock::now();
      x = model.run(b, x);
      sync(probe.device, x);
      c.fwd[b] = seconds_since(t0);
      outs.push_back(x);
      c.out_bytes.push_back(x.numel() / rows * x.element_size());
    }
    const auto t0 = Clock::now();
    loss = task_loss(x.to(torch::kFloat), labels_of(probe, x));
    sync(probe.device, loss);
    c.loss = seconds_since(t0);
  }
  // The gradient reaching block b's output marks the end of block b+1's backward. The marks
  // are the stream clock's: on CUDA an event queued behind the kernels that made that gradient
  // (a hook runs when they are queued, long before they run), on the CPU the host's time.
  StreamClock clock(probe.device);
  clock.begin();
  std::vector<int> arrived(nb, -1);
  for (size_t b = 0; b + 1 < nb; ++b)
    outs[b].register_hook([&clock, &arrived, b](const torch::Tensor& g) {
      arrived[b] = clock.mark();
      return g;
    });
  const int start = clock.mark();
  loss.backward();
  const int end = clock.mark();
  clock.resolve();  // waits for the device's last event: the step's one sync
  auto at = [&](size_t b) { return b + 1 < nb ? arrived[b] : start; };  // block b's backward starts
  for (size_t b = 0; b < nb; ++b) {
    const int stop = b == 0 ? end : arrived[b - 1];
    c.bwd[b] = clock.at(stop) - clock.at(at(b));
  }
  for (auto& p : model.parameters()) p.mutable_grad().reset();
  return c;
}

// Block b alone: its input gradient only.
double input_grad_seconds(const ComputeProbe& probe, size_t b, const torch::Tensor& in) {
  auto& model = *probe.model;
  std::vector<double> runs;
  for (int r = 0; r <= probe.repeats; ++r) {
    auto x = in.detach().requires_grad_(true);
    torch::Tensor y;
    {
      AutocastGuard autocast(probe.precision, probe.device);
      y = model.run(b, x);
    }
    sync(probe.device, y);
    const auto t0 = Clock::now();
    auto g = torch::autograd::grad({y}, {x}, {torch::ones_like(y)});
    sync(probe.device, g[0]);
    if (r > 0) runs.push_back(seconds_since(t0));
  }
  return fastest(runs);
}

}  // namespace

double time_forward_backward(const ComputeProbe& probe, int64_t rows, int warm) {
  SavedBuffers keep(*probe.model);
  for (int i = 0; i < warm; ++i) chained_step(probe, rows);
  const auto t0 = Clock::now();
  chained_step(probe, rows);
  return seconds_since(t0);
}

void profile_blocks(const ComputeProbe& probe, const std::vector<int64_t>& rows, Profile& out,
                    const std::function<void(const std::string&)>& progress) {
  auto& model = *probe.model;
  SavedBuffers keep(model);
  const size_t nb = model.blocks().size();
  for (int64_t r : rows) {
    if (progress) progress("blocks at " + std::to_string(r) + " images per micro-batch");
    chained_step(probe, r);  // warm-up: allocator, kernels
    // The fastest of the repeats, whole: interference on a shared machine only slows a run, and
    // taking each block's own fastest would add up to a step no run had.
    Chained best;
    double best_total = 0;
    std::vector<double> loss;
    for (int k = 0; k < probe.repeats; ++k) {
      const Chained c = chained_step(probe, r);
      double total = c.loss;
      for (size_t b = 0; b < nb; ++b) total += c.fwd[b] + c.bwd[b];
      if (k == 0 || total < best_total) {
        best = c;
        best_total = total;
      }
      if (out.output_bytes_per_row.empty()) out.output_bytes_per_row = c.out_bytes;
    }
    loss.push_back(best.loss / static_cast<double>(r));
    std::vector<std::vector<double>> fwd(nb), bwd(nb);
    for (size_t b = 0; b < nb; ++b) {
      fwd[b].push_back(best.fwd[b]);
      bwd[b].push_back(best.bwd[b]);
    }
    out.loss_s_per_row = fastest(loss);
    std::vector<BlockTimes> times(nb);
    torch::Tensor x = input_of(probe, r);
    for (size_t b = 0; b < nb; ++b) {
      times[b].forward = fastest(fwd[b]);
      times[b].backward = fastest(bwd[b]);
      // The first block's input is the images: nothing asks for their gradient.
      const double i = b == 0 ? 0 : input_grad_seconds(probe, b, x);
      times[b].input = std::min(i, times[b].backward);
      times[b].weight = times[b].backward - times[b].input;
      torch::NoGradGuard no_grad;
      AutocastGuard autocast(probe.precision, probe.device);
      x = model.run(b, x);
    }
    out.blocks_by_rows[r] = times;
  }
}

void profile_step_overhead(const Config& cfg, const ComputeProbe& probe, int64_t rows,
                           Profile& out) {
  // A whole training step as a strategy runs it (zero_grad, forward, loss, backward, optimizer
  // step) against the sum of its profiled parts: what is left is the step's own overhead.
  auto& model = *probe.model;
  SavedBuffers keep(model);
  auto params = model.parameters();
  std::vector<torch::Tensor> saved;
  for (const auto& p : params) saved.push_back(p.detach().clone());
  auto opt = make_optimizer(cfg, params);
  auto x = input_of(probe, rows);
  torch::Tensor y;  // the labels, shaped by the first forward's logits
  std::vector<double> runs;
  for (int r = 0; r <= probe.repeats; ++r) {
    const auto t0 = Clock::now();
    opt->zero_grad();
    torch::Tensor loss;
    {
      AutocastGuard autocast(probe.precision, probe.device);
      const auto logits = model.forward(x);
      if (!y.defined()) y = labels_of(probe, logits);
      loss = task_loss(logits.to(torch::kFloat), y);
    }
    loss.backward();
    opt->step();
    sync(probe.device, params.front());
    if (r > 0) runs.push_back(seconds_since(t0));
  }
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(saved[i]);
  }
  const auto parts = out.blocks_at(rows);
  double sum = out.loss_s_per_row * static_cast<double>(rows);
  for (const auto& b : parts) sum += b.forward + b.backward;
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  sum += out.optimizer_s_per_param * static_cast<double>(n);
  out.step_overhead_s = std::max(0.0, fastest(runs) - sum);
}

double reference_seconds(const ComputeProbe& probe, int64_t rows) {
  std::vector<double> runs;
  time_forward_backward(probe, rows, 1);
  for (int r = 0; r < 3; ++r) runs.push_back(time_forward_backward(probe, rows));
  return fastest(runs);
}

void profile_optimizer(const Config& cfg, const ComputeProbe& probe, Profile& out) {
  auto params = probe.model->parameters();
  std::vector<torch::Tensor> copies;
  int64_t n = 0;
  for (const auto& p : params) {
    auto c = p.detach().clone().requires_grad_(true);
    c.mutable_grad() = torch::full_like(c, 1e-3);
    copies.push_back(c);
    n += p.numel();
  }
  auto opt = make_optimizer(cfg, copies);
  std::vector<double> steps, scales;
  auto flat = torch::ones({n}, torch::TensorOptions().dtype(probe.model->scalar_type()).device(probe.device));
  for (int r = 0; r <= probe.repeats; ++r) {
    auto t0 = Clock::now();
    opt->step();
    sync(probe.device, copies.front());
    if (r > 0) steps.push_back(seconds_since(t0));
    t0 = Clock::now();
    flat.div_(2);
    sync(probe.device, flat);
    if (r > 0) scales.push_back(seconds_since(t0));
  }
  out.optimizer_s_per_param = fastest(steps) / static_cast<double>(std::max<int64_t>(1, n));
  out.scale_s_per_param = fastest(scales) / static_cast<double>(std::max<int64_t>(1, n));
}

}  // namespace parallax
