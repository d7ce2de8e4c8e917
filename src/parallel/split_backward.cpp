// Split backward. A node is "parameter-only" when every edge out of it leads to parameters (an
// AccumulateGrad of a leaf other than the input) or to other parameter-only nodes: the cast or
// transpose between a weight and the op that uses it. A "weight node" is any other node with a
// parameter-only edge: the op whose backward computes a weight gradient. A norm layer's weight
// node (batch, layer, group norm) computes its weight gradient with I: it comes from the same
// reductions over the batch as its input gradient, which W would run again (measured: 14% more
// backward time on ResNet-50's first half). W defers the others: convolutions and matmuls, whose
// weight gradient is a kernel of its own.
#include "parallel/split_backward.h"

#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>
#include <torch/torch.h>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace parallax {

using torch::autograd::AccumulateGrad;
using torch::autograd::FunctionPreHook;
using torch::autograd::Edge;
using torch::autograd::edge_list;
using torch::autograd::Node;
using torch::autograd::variable_list;
// A node's owning pointer: std::shared_ptr in LibTorch 1.13, c10::intrusive_ptr in 2.x.
using NodePtr = decltype(Edge::function);

struct PendingWeightGradient {
  edge_list roots;       // (weight node, input slot) with a captured gradient
  variable_list grads;   // those gradients
  edge_list parameters;  // the AccumulateGrad edges W feeds
};

namespace {

class GraphWalk {
 public:
  explicit GraphWalk(Node* input_accumulator) : input_(input_accumulator) {}

  bool parameter_only(Node* n) {
    if (dynamic_cast<AccumulateGrad*>(n)) return n != input_;
    auto it = memo_.find(n);
    if (it != memo_.end()) return it->second;
    bool any = false, only = true;
    for (const Edge& e : n->next_edges()) {
      if (!e.is_valid()) continue;
      any = true;
      if (!parameter_only(e.function.get())) only = false;
    }
    return memo_[n] = any && only;
  }

  // The AccumulateGrad edges below a weight node's parameter-only edges.
  void parameters_of(Node* n, edge_list& out) {
    for (const Edge& e : n->next_edges()) {
      if (!e.is_valid() || !parameter_only(e.function.get())) continue;
      if (dynamic_cast<AccumulateGrad*>(e.function.get())) out.emplace_back(e.function, 0);
      else parameters_of(e.function.get(), out);
    }
  }

  // Every node from `root` down to the input, but not into parameter-only subgraphs.
  void walk(const NodePtr& root) {
    std::vector<NodePtr> stack{root};
    std::unordered_set<Node*> seen{root.get()};
    while (!stack.empty()) {
      auto n = stack.back();
      stack.pop_back();
      if (dynamic_cast<AccumulateGrad*>(n.get()) || parameter_only(n.get())) continue;
      bool weighted = false;
      for (const Edge& e : n->next_edges()) {
        if (!e.is_valid()) continue;
        if (parameter_only(e.function.get())) {
          weighted = true;
        } else if (seen.insert(e.function.get()).second) {
          stack.push_back(e.function);
        }
      }
      const bool norm = n->name().find("Norm") != std::string::npos;
      (!weighted ? other_nodes : norm ? norm_nodes : deferred_nodes).push_back(n);
    }
  }

  std::vector<NodePtr> deferred_nodes, norm_nodes, other_nodes;

 private:
  Node* input_;
  std::unordered_map<Node*, bool> memo_;
};

// Keeps the gradients entering a node the first time it runs (I); not when W runs it again.
class CaptureOnce : public FunctionPreHook {
 public:
  explicit CaptureOnce(variable_list* into) : into_(into) {}
  variable_list operator()(const variable_list& grads) override {
    if (into_) *into_ = grads;
    into_ = nullptr;
    return grads;
  }

 private:
  variable_list* into_;
};

}  // namespace

InputGradient backward_input(const torch::Tensor& output, const torch::Tensor& grad,
                             const torch::Tensor& input, bool input_grad_needed) {
  TORCH_CHECK(input.requires_grad() && input.is_leaf(),
              "backward_input: the input must be a leaf that requires grad");
  const Edge root = torch::autograd::impl::gradient_edge(output);
  const Edge input_edge = torch::autograd::impl::gradient_edge(input);
  GraphWalk graph(input_edge.function.get());
  graph.walk(root.function);
  // The parameters W feeds: the deferred nodes'. A norm layer whose parameter is among them
  // (tied weights) is deferred too: W must bring all of that parameter's gradient, and I none.
  edge_list w_parameters, i_parameters;
  for (const auto& n : graph.deferred_nodes) graph.parameters_of(n.get(), w_parameters);
  std::unordered_set<Node*> deferred_params;
  for (const auto& e : w_parameters) deferred_params.insert(e.function.get());
  std::vector<NodePtr> norms;
  for (const auto& n : graph.norm_nodes) {
    edge_list edges;
    graph.parameters_of(n.get(), edges);
    const bool tied = std::any_of(edges.begin(), edges.end(), [&](const Edge& e) {
      return deferred_params.count(e.function.get()) > 0;
    });
    (tied ? graph.deferred_nodes : norms).push_back(n);
    auto& into = tied ? w_parameters : i_parameters;
    into.insert(into.end(), edges.begin(), edges.end());
  }
  graph.norm_nodes = std::move(norms);

  // One engine pass that runs every node down to the deferred weight nodes (a node listed as an
  // output runs) and the input, accumulates the norm layers' weight gradients and the input's,
  // and computes no deferred weight gradient (nothing below asks for one). Hooks keep the
  // gradients entering the deferred nodes for W.
  std::vector<variable_list> entering(graph.deferred_nodes.size());
  edge_list outputs;
  for (size_t i = 0; i < graph.deferred_nodes.size(); ++i) {
    const auto& n = graph.deferred_nodes[i];
    n->add_pre_hook(std::make_unique<CaptureOnce>(&entering[i]));
    outputs.emplace_back(n, 0);
  }
  outputs.insert(outputs.end(), i_parameters.begin(), i_parameters.end());
  if (input_grad_needed) outputs.push_back(input_edge);
  const variable_list root_grad{grad.defined() ? grad : torch::ones_like(output)};
  auto& engine = torch::autograd::Engine::get_default_engine();
  engine.execute({root}, root_grad, /*keep_graph=*/true, /*create_graph=*/false,
                 /*accumulate_grad=*/true, outputs);

  InputGradient out;
  if (input_grad_needed) out.input_grad = input.grad();
  out.weights = std::make_shared<PendingWeightGradient>();
  auto& w = *out.weights;
  for (size_t i = 0; i < graph.deferred_nodes.size(); ++i) {
    const auto& n = graph.deferred_nodes[i];
    for (uint32_t k = 0; k < entering[i].size(); ++k)
      if (entering[i][k].defined()) {
        w.roots.emplace_back(n, k);
        w.grads.push_back(std::move(entering[i][k]));
      }
    // W runs each alone: cut its edges to everything but its parameters, so that no input
    // gradient is computed again (or passed on to the weight nodes below).
    for (Edge& e : n->next_edges())
      if (e.is_valid() && !graph.parameter_only(e.function.get())) e = Edge();
  }
  w.parameters = std::move(w_parameters);
  // What only I needed is freed now; the deferred nodes keep their saved inputs for W.
  for (const auto& n : graph.other_nodes) n->release_variables();
  for (const auto& n : graph.norm_nodes) n->release_variables();
  return out;
}

void backward_weight(PendingWeightGradient& pending) {
  if (!pending.roots.empty()) {
    auto& engine = torch::autograd::Engine::get_default_engine();
    engine.execute(pending.roots, pending.grads, /*keep_graph=*/false, /*create_graph=*/false,
                   /*accumulate_grad=*/true, pending.parameters);
  }
  pending = PendingWeightGradient{};
}

}  // namespace parallax
