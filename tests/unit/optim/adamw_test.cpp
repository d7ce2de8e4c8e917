// AdamW as nanoGPT sets it up: the update against a hand-computed reference, decoupled decay on
// matrices and none on vectors, its state through get/set_param_state and an archive, ZeRO's
// route (no decay in the optimizer, the decay applied to a shard's parts) equal bit for bit to
// the grouped optimizer; and --grad-clip's factor equal to LibTorch's clip_grad_norm_.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "optim/decoupled_decay.h"
#include "optim/fused_adamw.h"
#include "optim/grad_clip.h"
#include "optim/optimizer.h"
#include "parallel/bucket_layout.h"

namespace parallax {
namespace {

Config adamw_config(double weight_decay = 0.1) {
  Config c;
  c.optimizer = "adamw";
  c.lr = 0.01;
  c.weight_decay = weight_decay;
  c.beta1 = 0.9;
  c.beta2 = 0.99;
  return c;
}

// A tiny regression in float64: out = g * (x W^T + b). W (2 x 3) is a matrix, b and g (2 each)
// are a bias and a norm-like gain: the two kinds nanoGPT's groups tell apart.
std::vector<torch::Tensor> start_params() {
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  return {torch::linspace(-0.5, 0.7, 6, f64).reshape({2, 3}).requires_grad_(),
          torch::tensor({0.1, -0.2}, f64).requires_grad_(),
          torch::tensor({1.1, 0.9}, f64).requires_grad_()};
}

std::vector<torch::Tensor> clones(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> out;
  for (const auto& p : params) out.push_back(p.detach().clone().requires_grad_());
  return out;
}

// Fills each parameter's .grad with the loss's gradient at its current value.
void backward(const std::vector<torch::Tensor>& p) {
  for (const auto& t : p) t.mutable_grad().reset();
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  const auto x = torch::linspace(-1, 1, 15, f64).reshape({5, 3});
  const auto y = torch::linspace(0.3, -0.6, 10, f64).reshape({5, 2});
  ((x.matmul(p[0].t()) + p[1]) * p[2] - y).pow(2).mean().backward();
}

double max_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>());
  return worst;
}

TEST(AdamW, EqualsAHandComputedReferenceWithNoDecayOnVectors) {
  const Config c = adamw_config();
  auto params = start_params();
  auto ref = clones(params);
  auto opt = make_optimizer(c, params);
  std::vector<torch::Tensor> m, v;
  for (const auto& p : ref) {
    m.push_back(torch::zeros_like(p));
    v.push_back(torch::zeros_like(p));
  }
  const double eps = 1e-8;
  for (int t = 1; t <= 3; ++t) {
    backward(params);
    opt->step();
    backward(ref);
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < ref.size(); ++i) {
      const auto g = ref[i].grad();
      if (ref[i].dim() >= 2) ref[i].mul_(1 - c.lr * c.weight_decay);  // the matrix only
      m[i] = c.beta1 * m[i] + (1 - c.beta1) * g;
      v[i] = c.beta2 * v[i] + (1 - c.beta2) * g * g;
      const auto m_hat = m[i] / (1 - std::pow(c.beta1, t));
      const auto v_hat = v[i] / (1 - std::pow(c.beta2, t));
      ref[i].sub_(c.lr * m_hat / (v_hat.sqrt() + eps));
    }
    EXPECT_LT(max_diff(params, ref), 1e-14) << "step " << t;
  }
  // Three steps of about lr each moved the parameters: the comparison was not of still values.
  EXPECT_GT(max_diff(params, start_params()), 0.01);
}

TEST(AdamW, DecaysMatricesAndNotBiasesOrGains) {
  auto decayed = start_params(), plain = start_params();
  auto with = make_optimizer(adamw_config(0.1), decayed);
  auto without = make_optimizer(adamw_config(0.0), plain);
  // nanoGPT's two groups: the matrix with the decay, the vectors without.
  ASSERT_EQ(with->param_groups().size(), 2u);
  const auto& g0 = with->param_groups()[0];
  ASSERT_EQ(g0.params().size(), 1u);
  EXPECT_TRUE(g0.params()[0].is_same(decayed[0]));
  EXPECT_EQ(static_cast<const torch::optim::AdamWOptions&>(g0.options()).weight_decay(), 0.1);
  EXPECT_EQ(with->param_groups()[1].params().size(), 2u);
  EXPECT_EQ(static_cast<const torch::optim::AdamWOptions&>(with->param_groups()[1].options())
                .weight_decay(),
            0.0);
  const auto& betas = static_cast<const torch::optim::AdamWOptions&>(g0.options()).betas();
  EXPECT_EQ(std::get<0>(betas), 0.9);
  EXPECT_EQ(std::get<1>(betas), 0.99);

  // One step from the same point with the same gradients: the vectors are bitwise untouched by
  // the decay, the matrix is lr x wd x W smaller.
  const auto w0 = decayed[0].detach().clone();
  backward(decayed);
  backward(plain);
  with->step();
  without->step();
  EXPECT_TRUE(torch::equal(decayed[1], plain[1]));
  EXPECT_TRUE(torch::equal(decayed[2], plain[2]));
  EXPECT_LT((plain[0] - decayed[0] - 0.01 * 0.1 * w0).abs().max().item<double>(), 1e-15);
  EXPECT_GT((plain[0] - decayed[0]).abs().max().item<double>(), 5e-4);  // 1e-3 x |W| up to 0.7
}

// Where LibTorch has the fused kernel, make_optimizer's AdamW is FusedAdamW. It equals
// torch::optim::AdamW with the same groups step for step and leaves the same state behind, so a
// checkpoint written by either loads into the other.
TEST(AdamW, FusedKernelEqualsLibTorchsAdamWAndKeepsItsState) {
  const Config c = adamw_config();
  auto fused_params = start_params(), plain_params = start_params();
  auto fused = make_optimizer(c, fused_params);
  EXPECT_EQ(dynamic_cast<FusedAdamW*>(fused.get()) != nullptr, fused_adamw_available());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (const auto& [members, decay] :
       {std::pair{std::vector<torch::Tensor>{plain_params[0]}, c.weight_decay},
        std::pair{std::vector<torch::Tensor>{plain_params[1], plain_params[2]}, 0.0}}) {
    auto o = std::make_unique<torch::optim::AdamWOptions>(c.lr);
    o->betas(std::make_tuple(c.beta1, c.beta2)).weight_decay(decay);
    groups.emplace_back(members, std::move(o));
  }
  torch::optim::AdamW plain(std::move(groups), torch::optim::AdamWOptions(c.lr));
  for (int t = 1; t <= 4; ++t) {
    backward(fused_params);
    backward(plain_params);
    fused->step();
    plain.step();
    EXPECT_LT(max_diff(fused_params, plain_params), 1e-15) << "step " << t;
  }
  for (size_t i = 0; i < fused_params.size(); ++i) {
    const auto f = get_param_state(*fused, fused_params[i]);
    const auto p = get_param_state(plain, plain_params[i]);
    ASSERT_TRUE(f && p);
    EXPECT_EQ(f->step, 4);
    EXPECT_EQ(p->step, 4);
    for (const char* name : {"exp_avg", "exp_avg_sq"})
      EXPECT_LT((f->tensors.at(name) - p->tensors.at(name)).abs().max().item<double>(), 1e-15)
          << name << " of parameter " << i;
  }
  EXPECT_GT(max_diff(fused_params, start_params()), 0.01);  // four steps of about lr moved them
}

TEST(AdamW, AdamAndSgdKeepTheirSettings) {
  Config c;
  c.optimizer = "adam";
  c.weight_decay = 0.01;
  auto params = start_params();
  auto adam = make_optimizer(c, params);
  ASSERT_NE(dynamic_cast<torch::optim::Adam*>(adam.get()), nullptr);
  ASSERT_EQ(adam->param_groups().size(), 1u);
  const auto& o = static_cast<const torch::optim::AdamOptions&>(adam->param_groups()[0].options());
  EXPECT_EQ(o.betas(), std::make_tuple(0.9, 0.999));  // LibTorch's defaults, as before
  EXPECT_EQ(o.weight_decay(), 0.01);
  c.optimizer = "sgd";
  auto sgd = make_optimizer(c, params);
  ASSERT_NE(dynamic_cast<torch::optim::SGD*>(sgd.get()), nullptr);
  EXPECT_EQ(sgd->param_groups().size(), 1u);
}

TEST(AdamW, StateRoundTripsThroughParamStateAndAnArchive) {
  const Config c = adamw_config();
  auto a = start_params();
  auto opt = make_optimizer(c, a);
  for (int t = 0; t < 2; ++t) {
    backward(a);
    opt->step();
  }
  // b: the state copied parameter by parameter (ZeRO's and the pipeline's consolidation).
  auto b = clones(a);
  auto opt_b = make_optimizer(c, b);
  for (size_t i = 0; i < a.size(); ++i) {
    auto st = get_param_state(*opt, a[i]);
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->step, 2);
    EXPECT_EQ(st->tensors.size(), 2u);                  // exp_avg, exp_avg_sq (no amsgrad)
    for (auto& [name, t] : st->tensors) t = t.clone();  // a's own go on with a's steps
    set_param_state(*opt_b, b[i], *st);
  }
  // d: the whole optimizer through an archive (checkpoints).
  auto d = clones(a);
  auto opt_d = make_optimizer(c, d);
  {
    torch::serialize::OutputArchive out;
    opt->save(out);
    std::ostringstream bytes;
    out.save_to(bytes);
    std::istringstream in_bytes(bytes.str());
    torch::serialize::InputArchive in;
    in.load_from(in_bytes);
    opt_d->load(in);
  }
  EXPECT_EQ(optimizer_state_bytes(*opt_b), optimizer_state_bytes(*opt));
  EXPECT_EQ(optimizer_state_bytes(*opt), 2 * 10 * 8);  // two moments of 10 float64 elements
  for (auto* run : {&a, &b, &d}) backward(*run);
  opt->step();
  opt_b->step();
  opt_d->step();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
    EXPECT_TRUE(torch::equal(a[i], d[i])) << i;
  }
}

// ZeRO's route: the three parameters flattened into one bucket in reverse order (g, b, W) and
// padded to 2 x 6, each of 2 ranks stepping its chunk with an optimizer without decay after
// decaying the chunk's matrix parts; bitwise the grouped AdamW's result.
TEST(AdamW, ShardsWithTheirDecayedPartsEqualTheGroupedOptimizer) {
  const Config c = adamw_config();
  auto whole = start_params();
  auto grouped = make_optimizer(c, whole);
  BucketPlan plan;
  plan.params = {2, 1, 0};
  plan.offsets = {0, 2, 4};
  plan.numel = 10;
  plan.padded = 12;
  const std::vector<int64_t> numels{6, 2, 2};
  const std::vector<bool> decayed{true, false, false};
  auto flat_of = [&](auto part) {
    return torch::cat({part(whole[2]).reshape(-1), part(whole[1]).reshape(-1),
                       part(whole[0]).reshape(-1), torch::zeros({2}, torch::kDouble)});
  };
  const auto flat = flat_of([](const torch::Tensor& p) { return p.detach(); });
  std::vector<torch::Tensor> shards;
  std::vector<std::unique_ptr<torch::optim::Optimizer>> opts;
  std::vector<std::vector<std::pair<int64_t, int64_t>>> parts;
  for (int r = 0; r < 2; ++r) {
    shards.push_back(flat.narrow(0, 6 * r, 6).clone().requires_grad_());
    opts.push_back(make_optimizer(c, {shards.back()}, DecayRule::kCallerApplies));
    parts.push_back(selected_parts(plan, numels, decayed, 6 * r, 6));
  }
  // Rank 0 holds g, b and W's first 2 elements; rank 1 W's last 4, then padding.
  using Parts = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(parts[0], (Parts{{4, 6}}));
  EXPECT_EQ(parts[1], (Parts{{0, 4}}));
  for (int t = 0; t < 3; ++t) {
    backward(whole);
    const auto grad = flat_of([](const torch::Tensor& p) { return p.grad(); });
    grouped->step();
    for (int r = 0; r < 2; ++r) {
      shards[r].mutable_grad() = grad.narrow(0, 6 * r, 6).clone();
      apply_decoupled_decay(shards[r], parts[r], c.lr, decoupled_weight_decay(c));
      opts[r]->step();
    }
    const auto now = flat_of([](const torch::Tensor& p) { return p.detach(); });
    EXPECT_TRUE(
        torch::equal(torch::cat({shards[0], shards[1]}).narrow(0, 0, 10), now.narrow(0, 0, 10)))
        << "step " << t;
  }
  EXPECT_EQ(decoupled_weight_decay(Config{}), 0.0);  // sgd's decay is in its gradient
}

TEST(GradClip, FactorAndScalingEqualClipGradNorm) {
  for (double max_norm : {0.05, 1e3}) {  // clips, and leaves alone
    auto ours = start_params(), torchs = start_params();
    backward(ours);
    backward(torchs);
    auto sq = torch::zeros({}, torch::kDouble);
    for (const auto& p : ours) sq += p.grad().norm().square();
    const double norm = std::sqrt(sq.item<double>());
    const auto factor = clip_coefficient(sq, max_norm);
    EXPECT_DOUBLE_EQ(factor.item<double>(), std::min(1.0, max_norm / (norm + 1e-6)));
    scale_gradients(ours, factor);
    const double returned = torch::nn::utils::clip_grad_norm_(torchs, max_norm);
    EXPECT_NEAR(returned, norm, 1e-15);
    for (size_t i = 0; i < ours.size(); ++i)
      EXPECT_LT((ours[i].grad() - torchs[i].grad()).abs().max().item<double>(), 1e-15);
    if (max_norm < norm) {
      auto clipped = torch::zeros({}, torch::kDouble);
      for (const auto& p : ours) clipped += p.grad().norm().square();
      // Short of max_norm by the 1e-6 in the factor's denominator only.
      EXPECT_NEAR(std::sqrt(clipped.item<double>()), max_norm, 1e-6 * max_norm);
    } else {
      EXPECT_EQ(factor.item<double>(), 1.0);
    }
  }
  // A zero gradient keeps a finite factor.
  EXPECT_EQ(clip_coefficient(torch::zeros({}, torch::kDouble), 1.0).item<double>(), 1.0);
}

}  // namespace
}  // namespace parallax
