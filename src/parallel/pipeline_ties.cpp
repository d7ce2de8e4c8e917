// Pipeline's tied weights across ranks: a copy on the user's rank, gradients summed each step.
// Both copies start equal, get the same summed gradient and the same optimizer update, so they
// stay equal (bitwise: a + b == b + a), and the step equals one device's, where one tensor gets
// both contributions.
#include <torch/torch.h>

#include <sstream>
#include <string>
#include <vector>

#include "distributed/collectives.h"
#include "optim/optimizer.h"
#include "parallel/pipeline.h"

namespace parallax {

void Pipeline::split_ties() {
  const auto& ties = model_->ties();
  for (size_t i = 0; i < ties.size(); ++i) {
    const int owner = layout_.owner(piece_of(ties[i].owner));
    const int user = layout_.owner(piece_of(ties[i].user));
    if (owner == user || (ctx_.stage != owner && ctx_.stage != user)) continue;
    StageTie t;
    t.tie = i;
    t.owner = ctx_.stage == owner;
    t.peer = t.owner ? user : owner;
    if (!t.owner) {
      torch::NoGradGuard no_grad;
      t.copy = ties[i].weight().detach().clone().to(device_).requires_grad_(true);
      ties[i].rebind(t.copy);
    }
    stage_ties_.push_back(std::move(t));
  }
}

void Pipeline::sum_tied_gradients() {
  torch::NoGradGuard no_grad;
  for (size_t k = 0; k < stage_ties_.size(); ++k) {
    StageTie& t = stage_ties_[k];
    const auto param = t.owner ? model_->ties()[t.tie].weight() : t.copy;
    auto grad = param.mutable_grad();
    if (!grad.defined()) grad = param.mutable_grad() = torch::zeros_like(param);
    // Both send theirs and receive the other's, through buffers kept from step to step.
    if (!t.sent.defined()) {
      t.sent = torch::empty_like(grad);
      t.received = torch::empty_like(grad);
    }
    t.sent.copy_(grad);
    std::vector<torch::Tensor> mine{t.sent}, theirs{t.received};
    const int tag = 1 << 29 | static_cast<int>(k);
    auto sent = send(ctx_.pp_pg, mine, t.peer, tag, "tied weight's gradient");
    auto got = recv(ctx_.pp_pg, theirs, t.peer, tag, "tied weight's gradient");
    got->wait();
    sent->wait();
    // One rounding, a + b = b + a, so both ranks hold the same sum.
    grad.add_(t.received);
  }
}

void Pipeline::load_tied_copies(torch::serialize::InputArchive& archive,
                                torch::optim::Optimizer& whole) {
  for (const auto& t : stage_ties_) {
    if (t.owner) continue;
    // The owner's block is not this rank's: its weight is read from the archive, where
    // Module::save nested it ("model" / "embed" / "wte" / "weight").
    const auto& tie = model_->ties()[t.tie];
    std::vector<std::string> path{"model"};
    std::stringstream names(model_->blocks()[tie.owner].name + "." + tie.name);
    for (std::string part; std::getline(names, part, '.');) path.push_back(part);
    std::vector<torch::serialize::InputArchive> nested(path.size() - 1);
    torch::serialize::InputArchive* at = &archive;
    for (size_t i = 0; i + 1 < path.size(); ++i) {
      at->read(path[i], nested[i]);
      at = &nested[i];
    }
    torch::Tensor loaded;
    at->read(path.back(), loaded);
    {
      torch::NoGradGuard no_grad;
      t.copy.copy_(loaded);
    }
    if (const auto state = get_param_state(whole, tie.weight()))
      set_param_state(*optimizer_, t.copy, *state);
  }
}

std::vector<torch::Tensor> Pipeline::norm_params() const {
  std::vector<torch::Tensor> params;
  for (const auto& p : params_) {
    bool copy = false;
    for (const auto& t : stage_ties_) copy = copy || (!t.owner && p.is_same(t.copy));
    if (!copy) params.push_back(p);
  }
  return params;
}

}  // namespace parallax
