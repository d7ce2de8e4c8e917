// Optimizer factory and accounting over LibTorch's per-parameter optimizer state.
#include "optim/optimizer.h"

#include <torch/torch.h>

#include <sstream>
#include <type_traits>

#include "optim/fused_adamw.h"

namespace parallax {

namespace {

// AdamW in nanoGPT's two groups (configure_optimizers): the parameters it decays, then the
// others with no decay; a group left empty is left out (one group stays, for an empty list).
std::unique_ptr<torch::optim::Optimizer> make_adamw(const Config& cfg,
                                                    std::vector<torch::Tensor> params,
                                                    DecayRule rule) {
  const auto options = torch::optim::AdamWOptions(cfg.lr)
                           .betas(std::make_tuple(cfg.beta1, cfg.beta2))
                           .weight_decay(cfg.weight_decay);
  std::vector<torch::Tensor> decayed, kept;
  for (auto& p : params)
    (rule == DecayRule::kByShape && decays_by_shape(p.dim()) ? decayed : kept)
        .push_back(std::move(p));
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto add = [&](std::vector<torch::Tensor> ps, double weight_decay) {
    auto group_options = std::make_unique<torch::optim::AdamWOptions>(options);
    group_options->weight_decay(weight_decay);
    groups.emplace_back(std::move(ps), std::move(group_options));
  };
  if (!decayed.empty()) add(std::move(decayed), cfg.weight_decay);
  if (!kept.empty() || groups.empty()) add(std::move(kept), 0.0);
  if (fused_adamw_available()) return std::make_unique<FusedAdamW>(std::move(groups), options);
  return std::make_unique<torch::optim::AdamW>(std::move(groups), options);
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Config& cfg,
                                                        std::vector<torch::Tensor> params,
                                                        DecayRule rule) {
  if (cfg.optimizer == "adamw") return make_adamw(cfg, std::move(params), rule);
  if (cfg.optimizer == "adam") {
    return std::make_unique<torch::optim::Adam>(std::move(params),
                                                torch::optim::AdamOptions(cfg.lr)
                                                    .betas(std::make_tuple(cfg.beta1, cfg.beta2))
                                                    .weight_decay(cfg.weight_decay));
  }
  return std::make_unique<torch::optim::SGD>(std::move(params),
                                             torch::optim::SGDOptions(cfg.lr)
                                                 .momentum(cfg.momentum)
                                                 .nesterov(cfg.nesterov)
                                                 .weight_decay(cfg.weight_decay));
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

std::vector<torch::Tensor> optimizer_state_tensors(const torch::optim::Optimizer& optimizer) {
  std::vector<torch::Tensor> tensors;
  for (const auto& entry : optimizer.state()) {
    const auto* state = entry.second.get();
    if (const auto* sgd = dynamic_cast<const torch::optim::SGDParamState*>(state)) {
      tensors.push_back(sgd->momentum_buffer());
    } else if (const auto* adam = dynamic_cast<const torch::optim::AdamParamState*>(state)) {
      tensors.insert(tensors.end(), {adam->exp_avg(), adam->exp_avg_sq(), adam->max_exp_avg_sq()});
    } else if (const auto* adamw = dynamic_cast<const torch::optim::AdamWParamState*>(state)) {
      tensors.insert(tensors.end(),
                     {adamw->exp_avg(), adamw->exp_avg_sq(), adamw->max_exp_avg_sq()});
    }
  }
  return tensors;
}

int64_t optimizer_state_bytes(const torch::optim::Optimizer& optimizer) {
  int64_t total = 0;
  for (const auto& t : optimizer_state_tensors(optimizer))
    if (t.defined()) total += t.numel() * t.element_size();
  return total;
}

namespace {

// LibTorch keys optimizer state by the parameter's TensorImpl: as its address printed into a
// string up to 2.x's early releases, as the pointer itself since. Chosen by the map's key type,
// so no version check is needed.
using StateMap = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;

template <typename Key>
Key state_key(c10::TensorImpl* impl) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << static_cast<void*>(impl);
    return s.str();
  } else {
    return impl;
  }
}

auto key_of(const torch::Tensor& param) {
  return state_key<StateMap::key_type>(param.unsafeGetTensorImpl());
}

// Adam's and AdamW's states have the same fields under two types.
template <typename AdamState>
ParamState adam_state(const AdamState& s) {
  ParamState out;
  auto put = [&](const char* name, const torch::Tensor& t) {
    if (t.defined()) out.tensors[name] = t;
  };
  put("exp_avg", s.exp_avg());
  put("exp_avg_sq", s.exp_avg_sq());
  put("max_exp_avg_sq", s.max_exp_avg_sq());
  out.step = s.step();
  return out;
}

template <typename AdamState>
std::unique_ptr<AdamState> make_adam_state(const ParamState& state) {
  auto tensor = [&](const char* name) {
    const auto it = state.tensors.find(name);
    return it == state.tensors.end() ? torch::Tensor() : it->second;
  };
  auto s = std::make_unique<AdamState>();
  s->step(state.step);
  s->exp_avg(tensor("exp_avg"));
  s->exp_avg_sq(tensor("exp_avg_sq"));
  s->max_exp_avg_sq(tensor("max_exp_avg_sq"));
  return s;
}

}  // namespace

std::optional<ParamState> get_param_state(const torch::optim::Optimizer& optimizer,
                                          const torch::Tensor& param) {
  const auto it = optimizer.state().find(key_of(param));
  if (it == optimizer.state().end()) return std::nullopt;
  const auto* state = it->second.get();
  if (const auto* adam = dynamic_cast<const torch::optim::AdamParamState*>(state))
    return adam_state(*adam);
  if (const auto* adamw = dynamic_cast<const torch::optim::AdamWParamState*>(state))
    return adam_state(*adamw);
  ParamState out;
  if (const auto* sgd = dynamic_cast<const torch::optim::SGDParamState*>(state))
    if (sgd->momentum_buffer().defined()) out.tensors["momentum_buffer"] = sgd->momentum_buffer();
  return out;
}

void set_param_state(torch::optim::Optimizer& optimizer, const torch::Tensor& param,
                     const ParamState& state) {
  if (dynamic_cast<torch::optim::SGD*>(&optimizer)) {
    auto s = std::make_unique<torch::optim::SGDParamState>();
    const auto it = state.tensors.find("momentum_buffer");
    if (it != state.tensors.end()) s->momentum_buffer(it->second);
    optimizer.state()[key_of(param)] = std::move(s);
  } else if (dynamic_cast<torch::optim::Adam*>(&optimizer)) {
    optimizer.state()[key_of(param)] = make_adam_state<torch::optim::AdamParamState>(state);
  } else if (dynamic_cast<torch::optim::AdamW*>(&optimizer)) {
    optimizer.state()[key_of(param)] = make_adam_state<torch::optim::AdamWParamState>(state);
  } else {
    throw std::logic_error("set_param_state: optimizer without a known state layout");
  }
}

}  // namespace parallax
