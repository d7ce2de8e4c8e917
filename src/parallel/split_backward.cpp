// Split backward. A node is "parameter-only" when every edge out of it leads to parameters (an
// AccumulateGrad of a leaf other than the input) or to other parameter-only nodes: the cast or
// transpose between a weight and the op that uses it. A "weight node" is any other node with a
// parameter-only edge: the op whose backward computes a weight gradient.
#include "parallel/split_backward.h"

#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>
#include <torch/torch.h>

#include <unordered_map>
#include <unordered_set>

namespace parallax {

using torch::autograd::AccumulateGrad;
using torch::autograd::Edge;
using torch::autograd::edge_list;
using torch::autograd::Node;
using torch::autograd::variable_list;

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
    if (auto* acc = dynamic_cast<AccumulateGrad*>(n)) {
      if (n == input_) return false;
      parameters_.insert(acc);
      return true;
    }
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

  // Every node from `root` down to the input, but not into parameter-only subgraphs.
  void walk(const std::shared_ptr<Node>& root) {
    std::vector<std::shared_ptr<Node>> stack{root};
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
      (weighted ? weight_nodes : other_nodes).push_back(n);
    }
  }

  edge_list parameter_edges() const {
    edge_list edges;
    for (auto* acc : parameters_) edges.emplace_back(acc->shared_from_this(), 0);
    return edges;
  }

  std::vector<std::shared_ptr<Node>> weight_nodes, other_nodes;

 private:
  Node* input_;
  std::unordered_map<Node*, bool> memo_;
  std::unordered_set<AccumulateGrad*> parameters_;
};

}  // namespace

InputGradient backward_input(const torch::Tensor& output, const torch::Tensor& grad,
                             const torch::Tensor& input, bool input_grad_needed) {
  TORCH_CHECK(input.requires_grad() && input.is_leaf(),
              "backward_input: the input must be a leaf that requires grad");
  const Edge root = torch::autograd::impl::gradient_edge(output);
  const Edge input_edge = torch::autograd::impl::gradient_edge(input);
  const bool wants_input = input_grad_needed;
  GraphWalk graph(input_edge.function.get());
  graph.walk(root.function);

  // Capture the gradient entering each weight node, and the input's.
  edge_list captures;
  for (const auto& n : graph.weight_nodes)
    for (uint32_t i = 0; i < n->num_inputs(); ++i) captures.emplace_back(n, i);
  if (wants_input) captures.push_back(input_edge);
  const variable_list root_grad{grad.defined() ? grad : torch::ones_like(output)};
  auto& engine = torch::autograd::Engine::get_default_engine();
  variable_list captured = engine.execute({root}, root_grad, /*keep_graph=*/true,
                                          /*create_graph=*/false, /*accumulate_grad=*/false,
                                          captures);
  InputGradient out;
  if (wants_input) out.input_grad = captured.back();
  out.weights = std::make_shared<PendingWeightGradient>();
  auto& w = *out.weights;
  for (size_t k = 0; k + (wants_input ? 1 : 0) < captured.size(); ++k) {
    if (!captured[k].defined()) continue;  // an output of the op nothing used (batch norm's mean)
    w.roots.push_back(captures[k]);
    w.grads.push_back(std::move(captured[k]));
  }
  w.parameters = graph.parameter_edges();
  // W runs each weight node alone: cut its edges to everything but its parameters, so that no
  // input gradient is computed again (or passed on to the weight nodes below).
  for (const auto& n : graph.weight_nodes)
    for (Edge& e : n->next_edges())
      if (e.is_valid() && !graph.parameter_only(e.function.get())) e = Edge();
  // What only the input gradient needed is freed now; the weight nodes keep their saved inputs.
  for (const auto& n : graph.other_nodes) n->release_variables();
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
