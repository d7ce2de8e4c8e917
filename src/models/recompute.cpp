// Recomputation as a custom autograd function. Its inputs are the recomputed function's inputs
// and parameters, so that its backward node has an edge to each parameter's gradient accumulator:
// autograd then accumulates what the node returns and fires the parameters' hooks (DDP's and
// ZeRO's reducers', ZeRO-3's gathering) as it would for the block's own nodes. Inside, the
// recomputed graph's edges into those accumulators are pointed at aliases (leaves sharing the
// parameters' storage): the inner backward accumulates into the aliases, so no hook of a
// parameter runs twice (LibTorch 2.x runs a leaf's tensor hooks even where torch::autograd::grad
// only captures its gradient) and no .grad is touched before the outer backward's turn.
#include "models/recompute.h"

#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>
#include <torch/torch.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "config/user_error.h"
#include "distributed/torch_compat.h"

namespace parallax {

using torch::autograd::AutogradContext;
using torch::autograd::Edge;
using torch::autograd::edge_list;
using torch::autograd::Node;
using torch::autograd::variable_list;

Recompute recompute_from_name(const std::string& name) {
  if (name == "none") return Recompute::kNone;
  if (name == "full") return Recompute::kFull;
  if (name == "selective") return Recompute::kSelective;
  throw UserError("--recompute " + name + ": unknown; give none, full or selective");
}

namespace {

// What backward needs besides the saved inputs: the function, the parameters, the generators'
// and autocast's state when forward ran, and the parameter gradients I computed for W.
struct RecomputeState : torch::CustomClassHolder {
  RecomputedFunction f;
  size_t inputs = 0;
  std::vector<torch::Tensor> parameters, buffers;
  c10::Device device{c10::kCPU};
  torch::Tensor cpu_rng, device_rng;  // device_rng: undefined on the CPU
  bool autocast = false;
  at::ScalarType autocast_dtype = at::kFloat;
  bool kept = false;  // W's gradients, computed with I
  std::vector<torch::Tensor> kept_grads;
};

torch::Tensor generator_state(const c10::Device& device) {
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_generator_state(const c10::Device& device, const torch::Tensor& state) {
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// Forward's random-number state for its lifetime (the recomputation draws forward's dropout
// masks again); the state from before is back afterwards, so later draws are those of a run
// without recomputation.
class ForwardRng {
 public:
  explicit ForwardRng(const RecomputeState& s) : device_(s.device) {
    now_cpu_ = generator_state(c10::kCPU);
    set_generator_state(c10::kCPU, s.cpu_rng);
    if (s.device_rng.defined()) {
      now_device_ = generator_state(device_);
      set_generator_state(device_, s.device_rng);
    }
  }
  ~ForwardRng() {
    set_generator_state(c10::kCPU, now_cpu_);
    if (now_device_.defined()) set_generator_state(device_, now_device_);
  }
  ForwardRng(const ForwardRng&) = delete;
  ForwardRng& operator=(const ForwardRng&) = delete;

 private:
  c10::Device device_;
  torch::Tensor now_cpu_, now_device_;
};

// Forward's autocast for its lifetime (backward runs outside autocast); the weights it casts are
// dropped with the outermost autocast scope, as AutocastGuard does (parallel/mixed_precision.h).
class ForwardAutocast {
 public:
  explicit ForwardAutocast(const RecomputeState& s) : active_(s.autocast), type_(s.device.type()) {
    if (!active_) return;
    was_enabled_ = compat::autocast_enabled(type_);
    was_dtype_ = compat::autocast_dtype(type_);
    compat::set_autocast_dtype(type_, s.autocast_dtype);
    compat::set_autocast_enabled(type_, true);
    at::autocast::increment_nesting();
  }
  ~ForwardAutocast() {
    if (!active_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    compat::set_autocast_enabled(type_, was_enabled_);
    compat::set_autocast_dtype(type_, was_dtype_);
  }
  ForwardAutocast(const ForwardAutocast&) = delete;
  ForwardAutocast& operator=(const ForwardAutocast&) = delete;

 private:
  bool active_;
  c10::DeviceType type_;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kFloat;
};

// The buffers' values now, put back on leaving: what forward wrote to them stays, and the
// recomputation's second update (BatchNorm's running statistics) is undone.
class KeepBuffers {
 public:
  explicit KeepBuffers(const std::vector<torch::Tensor>& buffers) : buffers_(buffers) {
    for (const auto& b : buffers_) copies_.push_back(b.clone());
  }
  ~KeepBuffers() {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < buffers_.size(); ++i) buffers_[i].copy_(copies_[i]);
  }
  KeepBuffers(const KeepBuffers&) = delete;
  KeepBuffers& operator=(const KeepBuffers&) = delete;

 private:
  const std::vector<torch::Tensor>& buffers_;
  std::vector<torch::Tensor> copies_;
};

// The recomputed graph's backward from y (with `grad`) to `leaves` (fresh leaves: the inputs that
// need a gradient) and to `parameters` (undefined: not wanted). Each parameter's gradient goes
// to an alias of it; a leaf the function reads without declaring it keeps its own accumulator,
// so its gradient is not lost. Returns the leaves' gradients, then the parameters'.
std::vector<torch::Tensor> inner_backward(const torch::Tensor& y, const torch::Tensor& grad,
                                          const std::vector<torch::Tensor>& leaves,
                                          const std::vector<torch::Tensor>& parameters) {
  namespace impl = torch::autograd::impl;
  std::vector<torch::Tensor> aliases(parameters.size());
  std::unordered_map<Node*, Edge> redirect;
  edge_list outputs;
  std::unordered_set<Node*> own;  // the accumulators this backward accumulates into
  for (const auto& l : leaves)
    if (l.defined()) {
      outputs.emplace_back(impl::grad_accumulator(l), 0);
      own.insert(outputs.back().function.get());
    }
  for (size_t j = 0; j < parameters.size(); ++j) {
    const auto& p = parameters[j];
    if (!p.defined()) continue;
    auto accumulator = impl::try_get_grad_accumulator(p);
    if (!accumulator) continue;  // not in any graph: the function does not read it
    aliases[j] = p.detach().requires_grad_(true);
    outputs.emplace_back(impl::grad_accumulator(aliases[j]), 0);
    own.insert(outputs.back().function.get());
    redirect[accumulator.get()] = outputs.back();
  }
  const Edge root = impl::gradient_edge(y);
  std::vector<Node*> stack{root.function.get()};
  std::unordered_set<Node*> seen{root.function.get()};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (Edge& e : n->next_edges()) {
      if (!e.is_valid()) continue;
      auto it = redirect.find(e.function.get());
      if (it != redirect.end()) {
        e = it->second;
      } else if (dynamic_cast<torch::autograd::AccumulateGrad*>(e.function.get())) {
        if (own.insert(e.function.get()).second) outputs.push_back(e);  // undeclared leaf
      } else if (seen.insert(e.function.get()).second) {
        stack.push_back(e.function.get());
      }
    }
  }
  auto& engine = torch::autograd::Engine::get_default_engine();
  engine.execute({root}, {grad}, /*keep_graph=*/false, /*create_graph=*/false,
                 /*accumulate_grad=*/true, outputs);
  std::vector<torch::Tensor> grads;
  for (const auto& l : leaves) grads.push_back(l.defined() ? l.grad() : torch::Tensor());
  for (const auto& a : aliases) grads.push_back(a.defined() ? a.grad() : torch::Tensor());
  return grads;
}

struct RecomputeFunction : public torch::autograd::Function<RecomputeFunction> {
  // tensors: the inputs, then the parameters (all edges of this node).
  static torch::Tensor forward(AutogradContext* ctx, c10::intrusive_ptr<RecomputeState> state,
                               at::TensorList tensors) {
    const std::vector<torch::Tensor> inputs(tensors.begin(), tensors.begin() + state->inputs);
    ctx->save_for_backward(inputs);
    for (const auto& x : inputs)
      if (x.defined()) {
        state->device = x.device();
        break;
      }
    state->cpu_rng = generator_state(c10::kCPU);
    if (!state->device.is_cpu()) state->device_rng = generator_state(state->device);
    state->autocast = compat::autocast_enabled(state->device.type());
    state->autocast_dtype = compat::autocast_dtype(state->device.type());
    ctx->saved_data["state"] = c10::IValue::make_capsule(state);
    return state->f(inputs);  // gradients are off here (Function::apply)
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto state =
        c10::static_intrusive_pointer_cast<RecomputeState>(ctx->saved_data["state"].toCapsule());
    const size_t n_in = state->inputs, n_par = state->parameters.size();
    variable_list grads(1 + n_in + n_par);  // [0]: the state's place, never a gradient
    bool inputs_wanted = false, parameters_wanted = false;
    std::vector<char> wanted(n_in + n_par);
    for (size_t i = 0; i < wanted.size(); ++i) {
      wanted[i] = ctx->needs_input_grad(i);
      (i < n_in ? inputs_wanted : parameters_wanted) |= static_cast<bool>(wanted[i]);
    }
    if (state->kept) {  // W of a zero-bubble split: what I computed
      for (size_t j = 0; j < n_par; ++j)
        if (wanted[n_in + j]) grads[1 + n_in + j] = state->kept_grads[j];
      state->kept = false;
      state->kept_grads.clear();
      return grads;
    }
    // I of a split where only W wants this node's gradients (the first stage's first block).
    if (!inputs_wanted && !parameters_wanted) return grads;

    const auto saved = ctx->get_saved_variables();
    std::vector<torch::Tensor> xs, leaves;
    for (size_t i = 0; i < n_in; ++i) {
      auto x = saved[i].defined() ? saved[i].detach() : torch::Tensor();
      if (wanted[i]) x.requires_grad_(true);
      xs.push_back(x);
      leaves.push_back(wanted[i] ? x : torch::Tensor());
    }
    // I alone (a split's input gradient): the parameters' come from the same recomputation and
    // wait for W, rather than a second recomputation then.
    std::vector<torch::Tensor> parameters;
    for (const auto& p : state->parameters)
      parameters.push_back(p.requires_grad() ? p : torch::Tensor());
    std::vector<torch::Tensor> g;
    {
      // Restored once the recomputed graph is done: its nodes saved the buffers (BatchNorm's
      // running statistics) at the version the recomputation left.
      const KeepBuffers keep(state->buffers);
      torch::Tensor y;
      {
        torch::AutoGradMode grad_on(true);
        const ForwardRng rng(*state);
        const ForwardAutocast autocast(*state);
        y = state->f(xs);
      }
      if (!y.requires_grad()) return grads;
      g = inner_backward(y, grad_outputs[0], leaves, parameters);
    }
    for (size_t i = 0; i < n_in; ++i)
      if (wanted[i]) grads[1 + i] = g[i];
    if (parameters_wanted) {
      for (size_t j = 0; j < n_par; ++j)
        if (wanted[n_in + j]) grads[1 + n_in + j] = g[n_in + j];
    } else {
      state->kept_grads.assign(g.begin() + static_cast<std::ptrdiff_t>(n_in), g.end());
      state->kept = true;
    }
    return grads;
  }
};

}  // namespace

torch::Tensor recompute(const RecomputedFunction& f, const std::vector<torch::Tensor>& inputs,
                        const std::vector<torch::Tensor>& parameters,
                        const std::vector<torch::Tensor>& buffers) {
  auto needs_grad = [](const torch::Tensor& t) { return t.defined() && t.requires_grad(); };
  const bool backward_follows = torch::GradMode::is_enabled() &&
                                (std::any_of(inputs.begin(), inputs.end(), needs_grad) ||
                                 std::any_of(parameters.begin(), parameters.end(), needs_grad));
  if (!backward_follows) return f(inputs);
  auto state = c10::make_intrusive<RecomputeState>();
  state->f = f;
  state->inputs = inputs.size();
  state->parameters = parameters;
  state->buffers = buffers;
  std::vector<torch::Tensor> tensors = inputs;
  tensors.insert(tensors.end(), parameters.begin(), parameters.end());
  return RecomputeFunction::apply(state, at::TensorList(tensors));
}

}  // namespace parallax
