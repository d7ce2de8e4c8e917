// Optimizer factory and accounting over LibTorch's per-parameter optimizer state.
#include "optim/optimizer.h"

#include <torch/torch.h>

#include <sstream>
#include <type_traits>

namespace parallax {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Config& cfg,
                                                        std::vector<torch::Tensor> params) {
  if (cfg.optimizer == "adam") {
    return std::make_unique<torch::optim::Adam>(
        std::move(params), torch::optim::AdamOptions(cfg.lr).weight_decay(cfg.weight_decay));
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

}  // namespace

std::optional<ParamState> get_param_state(const torch::optim::Optimizer& optimizer,
                                          const torch::Tensor& param) {
  const auto it = optimizer.state().find(key_of(param));
  if (it == optimizer.state().end()) return std::nullopt;
  ParamState out;
  auto put = [&](const char* name, const torch::Tensor& t) {
    if (t.defined()) out.tensors[name] = t;
  };
  if (const auto* sgd = dynamic_cast<const torch::optim::SGDParamState*>(it->second.get())) {
    put("momentum_buffer", sgd->momentum_buffer());
  } else if (const auto* adam =
                 dynamic_cast<const torch::optim::AdamParamState*>(it->second.get())) {
    put("exp_avg", adam->exp_avg());
    put("exp_avg_sq", adam->exp_avg_sq());
    put("max_exp_avg_sq", adam->max_exp_avg_sq());
    out.step = adam->step();
  }
  return out;
}

void set_param_state(torch::optim::Optimizer& optimizer, const torch::Tensor& param,
                     const ParamState& state) {
  auto tensor = [&](const char* name) {
    const auto it = state.tensors.find(name);
    return it == state.tensors.end() ? torch::Tensor() : it->second;
  };
  if (dynamic_cast<torch::optim::SGD*>(&optimizer)) {
    auto s = std::make_unique<torch::optim::SGDParamState>();
    s->momentum_buffer(tensor("momentum_buffer"));
    optimizer.state()[key_of(param)] = std::move(s);
  } else if (dynamic_cast<torch::optim::Adam*>(&optimizer)) {
    auto s = std::make_unique<torch::optim::AdamParamState>();
    s->step(state.step);
    s->exp_avg(tensor("exp_avg"));
    s->exp_avg_sq(tensor("exp_avg_sq"));
    s->max_exp_avg_sq(tensor("max_exp_avg_sq"));
    optimizer.state()[key_of(param)] = std::move(s);
  } else {
    throw std::logic_error("set_param_state: optimizer without a known state layout");
  }
}

}  // namespace parallax
