// FusedAdamW::step: the state LibTorch's AdamW keeps, updated by at::_fused_adamw_.
#include "optim/fused_adamw.h"

#include <torch/torch.h>

#include "distributed/torch_compat.h"

namespace parallax {

bool fused_adamw_available() {
  return PARALLAX_TORCH_AT_LEAST(2, 4);
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
#if PARALLAX_TORCH_AT_LEAST(2, 4)
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  size_t slot = 0;
  for (auto& group : param_groups()) {
    auto& options = static_cast<torch::optim::AdamWOptions&>(group.options());
    const double lr = options.lr();
    const double weight_decay = options.weight_decay();
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      TORCH_CHECK(!p.grad().is_sparse(), "AdamW does not support sparse gradients");
      auto& entry = state()[p.unsafeGetTensorImpl()];
      if (!entry) {
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->step(0);
        s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        if (options.amsgrad())
          s->max_exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        entry = std::move(s);
      }
      auto& s = static_cast<torch::optim::AdamWParamState&>(*entry);
      s.step(s.step() + 1);
      if (weight_decay != 0) p.mul_(1 - lr * weight_decay);
      const auto step_options = p.options().dtype(torch::kFloat);
      if (slot == steps_.size()) steps_.push_back(torch::zeros({}, step_options));
      if (steps_[slot].device() != p.device()) steps_[slot] = torch::zeros({}, step_options);
      steps_[slot].fill_(static_cast<double>(s.step()));
      steps.push_back(steps_[slot++]);
      params.push_back(p);
      grads.push_back(p.grad());
      exp_avgs.push_back(s.exp_avg());
      exp_avg_sqs.push_back(s.exp_avg_sq());
      if (options.amsgrad()) max_exp_avg_sqs.push_back(s.max_exp_avg_sq());
    }
    if (params.empty()) continue;
    const auto [beta1, beta2] = options.betas();
    at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr, beta1,
                      beta2, /*weight_decay=*/0.0, options.eps(), options.amsgrad(),
                      /*maximize=*/false);
  }
  return loss;
#else
  return torch::optim::AdamW::step(std::move(closure));
#endif
}

}  // namespace parallax
