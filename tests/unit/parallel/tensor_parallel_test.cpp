// Tensor parallelism's building blocks on real Gloo ranks (threads of this process, one
// HashStore): a GPT block (models/gpt.h) whose linear layers are split over 2 and over 4 ranks as
// Megatron splits them (QKV column-parallel by heads, the output projection row-parallel; the
// MLP's first linear column-parallel, its second row-parallel) gives the whole block's output,
// input gradient and parameter gradients (each shard's the matching slice of the whole one's) in
// float64, with one all-reduce of batch x tokens x width per attention and per MLP each way; the
// vocabulary split likewise (embedding, head and cross-entropy, the logits never gathered) gives
// the whole one's loss and gradients; a size that does not split is one line.
#include "parallel/tensor_parallel.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include <functional>
#include <thread>

#include "config/user_error.h"
#include "distributed/torch_compat.h"
#include "models/attention.h"
#include "models/gpt.h"
#include "parallel/vocab_parallel.h"

namespace parallax {
namespace {

GptSpec tp_spec() {
  GptSpec s;
  s.layers = 1;
  s.heads = 4;
  s.width = 32;
  s.context = 8;
  s.vocab = 16;
  s.fused_attention = compat::kHasFusedAttention;
  return s;
}

torch::Tensor param_of(const torch::nn::Module& m, const std::string& name) {
  return m.named_parameters()[name];
}

// The whole block's layers, split: the block's forward (models/gpt.cpp) with its four linear
// layers replaced by their tensor-parallel versions and attention over this rank's heads.
struct TpBlock {
  TpBlock(const torch::nn::Module& whole, TpContext& tp)
      : tp(tp),
        qkv(param_of(whole, "attn.c_attn.weight"), param_of(whole, "attn.c_attn.bias"), tp,
            "tp attention", /*groups=*/3),
        proj(param_of(whole, "attn.c_proj.weight"), param_of(whole, "attn.c_proj.bias"), tp,
             "tp attention"),
        fc(param_of(whole, "mlp.c_fc.weight"), param_of(whole, "mlp.c_fc.bias"), tp, "tp mlp"),
        fc2(param_of(whole, "mlp.c_proj.weight"), param_of(whole, "mlp.c_proj.bias"), tp,
            "tp mlp") {
    for (const char* n : {"ln_1.weight", "ln_1.bias", "ln_2.weight", "ln_2.bias"})
      norms.push_back(param_of(whole, n).detach().clone().requires_grad_(true));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const AttentionOptions heads{tp_spec().heads / tp.world, /*causal=*/true, 0.0,
                                 tp_spec().fused_attention};
    auto ln = [&](const torch::Tensor& t, int k) {
      return torch::layer_norm(t, {t.size(-1)}, norms[2 * k], norms[2 * k + 1], 1e-5);
    };
    const auto h = x + proj->forward(multi_head_attention(qkv->forward(ln(x, 0)), heads, true));
    return h + fc2->forward(torch::gelu(fc->forward(ln(h, 1)), "tanh"));
  }
  // (name in the whole block, this rank's gradient, the dimension it is split along or -1, the
  // groups of a grouped split)
  struct Grad {
    std::string name;
    torch::Tensor grad;
    int64_t dim, groups;
  };
  std::vector<Grad> grads() const {
    return {{"attn.c_attn.weight", qkv->weight.grad(), 0, 3},
            {"attn.c_attn.bias", qkv->bias.grad(), 0, 3},
            {"attn.c_proj.weight", proj->weight.grad(), 1, 1},
            {"attn.c_proj.bias", proj->bias.grad(), -1, 1},
            {"mlp.c_fc.weight", fc->weight.grad(), 0, 1},
            {"mlp.c_fc.bias", fc->bias.grad(), 0, 1},
            {"mlp.c_proj.weight", fc2->weight.grad(), 1, 1},
            {"mlp.c_proj.bias", fc2->bias.grad(), -1, 1},
            {"ln_1.weight", norms[0].grad(), -1, 1},
            {"ln_1.bias", norms[1].grad(), -1, 1},
            {"ln_2.weight", norms[2].grad(), -1, 1},
            {"ln_2.bias", norms[3].grad(), -1, 1}};
  }
  TpContext& tp;
  ColumnParallelLinear qkv;
  RowParallelLinear proj;
  ColumnParallelLinear fc;
  RowParallelLinear fc2;
  std::vector<torch::Tensor> norms;
};

// The slice of the whole gradient a rank's shard holds.
torch::Tensor slice_of(const torch::Tensor& whole, int64_t dim, int64_t groups, int rank,
                       int world) {
  if (dim < 0) return whole;
  std::vector<torch::Tensor> parts;
  for (const auto& p : whole.chunk(groups, 0)) parts.push_back(p.chunk(world, dim)[rank]);
  return torch::cat(parts, 0);
}

// `world` Gloo ranks in threads of this process over one HashStore, each running body with its
// group's context (which outlives the graphs body builds); the results in rank order.
template <typename Result>
std::vector<Result> on_thread_ranks(int world, const std::function<Result(TpContext&)>& body) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  std::vector<Result> results(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      auto opts = c10d::ProcessGroupGloo::Options::create();
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      TpContext tp;
      tp.group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, r, world, opts);
      tp.rank = r;
      tp.world = world;
      results[r] = body(tp);
    });
  for (auto& t : threads) t.join();
  return results;
}

struct TpRankResult {
  torch::Tensor y, dx;
  std::vector<TpBlock::Grad> grads;
  TpTraffic traffic;
};

TpRankResult run_tp_rank(TpContext& tp, const torch::nn::Module& whole, const torch::Tensor& x,
                         const torch::Tensor& dy) {
  TpBlock block(whole, tp);
  auto xin = x.clone().requires_grad_(true);
  const auto y = block.forward(xin);
  y.backward(dy);
  return {y.detach(), xin.grad(), block.grads(), tp.traffic};
}

TEST(TensorParallel, AGptBlockOverTwoAndFourRanksEqualsTheWholeBlock) {
  auto model = make_gpt(tp_spec());
  model->set_floating_dtype(torch::kDouble);
  ASSERT_EQ(model->blocks()[1].name, "h.0");
  auto& whole = *model->blocks()[1].block;
  whole.train();
  // Made-up input and output gradient from formulas (the rank threads share the generator).
  const auto x = torch::sin(torch::arange(2 * 8 * 32, torch::kDouble)).reshape({2, 8, 32});
  const auto dy = torch::cos(torch::arange(2 * 8 * 32, torch::kDouble) * 0.37).reshape({2, 8, 32});
  auto xin = x.clone().requires_grad_(true);
  const auto y = whole.forward(xin);
  y.backward(dy);
  for (int world : {2, 4}) {
    SCOPED_TRACE(std::to_string(world) + " ranks");
    const auto results = on_thread_ranks<TpRankResult>(
        world, [&](TpContext& tp) { return run_tp_rank(tp, whole, x, dy); });
    for (int r = 0; r < world; ++r) {
      const auto& got = results[r];
      EXPECT_LT((got.y - y.detach()).abs().max().item<double>(), 1e-12) << "rank " << r;
      EXPECT_LT((got.dx - xin.grad()).abs().max().item<double>(), 1e-12) << "rank " << r;
      ASSERT_EQ(got.grads.size(), whole.parameters().size());  // every one, split or not
      for (const auto& g : got.grads) {
        const auto expected = slice_of(param_of(whole, g.name).grad(), g.dim, g.groups, r, world);
        ASSERT_EQ(g.grad.sizes(), expected.sizes()) << g.name;
        EXPECT_LT((g.grad - expected).abs().max().item<double>(), 1e-12) << g.name;
      }
      // One all-reduce of 2 x 8 x 32 per attention and per MLP, forward (g) and backward (f).
      EXPECT_EQ(got.traffic.forward_all_reduces, 2);
      EXPECT_EQ(got.traffic.forward_elements, 2 * 2 * 8 * 32);
      EXPECT_EQ(got.traffic.backward_all_reduces, 2);
      EXPECT_EQ(got.traffic.backward_elements, 2 * 2 * 8 * 32);
    }
  }
}

// Made-up values of a shape from a formula (the rank threads share the generator).
torch::Tensor formula(std::vector<int64_t> shape, double k) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return torch::sin(torch::arange(n, torch::kDouble) * k).reshape(shape);
}

struct VocabRankResult {
  torch::Tensor embedded, loss, shard_grad, h_grad;
};

// The tied vocabulary of 16 x 32 split over `world` ranks: an embedding of `tokens` (weighted so
// that each row's gradient differs), and the head's logits of h against it, cross-entropy with
// `targets`.
VocabRankResult run_vocab_rank(TpContext& tp, const torch::Tensor& weight,
                               const torch::Tensor& tokens, const torch::Tensor& h,
                               const torch::Tensor& targets) {
  const auto shard = shard_of(weight, 0, tp.rank, tp.world).requires_grad_(true);
  const auto hin = h.clone().requires_grad_(true);
  const auto embedded = vocab_parallel_embedding(tokens, shard, tp);
  const auto logits = torch::matmul(tp_enter(hin, tp, "tp head"), shard.t());  // [2, 8, 16/T]
  const auto loss = vocab_parallel_cross_entropy(logits, targets, tp);
  ((embedded * formula({32}, 0.71)).sum() + loss).backward();
  return {embedded.detach(), loss.detach(), shard.grad(), hin.grad()};
}

TEST(TensorParallel, TheVocabularySplitGivesTheWholeLossAndGradients) {
  const auto weight = formula({16, 32}, 0.13);
  const auto tokens = torch::remainder(torch::arange(16, torch::kLong) * 7, 16).reshape({2, 8});
  const auto targets = torch::remainder(torch::arange(16, torch::kLong) * 5 + 3, 16).reshape({2, 8});
  const auto h = formula({2, 8, 32}, 0.29);
  auto w = weight.clone().requires_grad_(true);
  auto hin = h.clone().requires_grad_(true);
  const auto embedded = torch::embedding(w, tokens);
  const auto loss = torch::nll_loss(torch::log_softmax(torch::matmul(hin, w.t()).reshape({-1, 16}), -1),
                                    targets.reshape({-1}));
  ((embedded * formula({32}, 0.71)).sum() + loss).backward();
  for (int world : {2, 4}) {
    SCOPED_TRACE(std::to_string(world) + " ranks");
    const auto results = on_thread_ranks<VocabRankResult>(
        world, [&](TpContext& tp) { return run_vocab_rank(tp, weight, tokens, h, targets); });
    for (int r = 0; r < world; ++r) {
      const auto& got = results[r];
      EXPECT_LT((got.embedded - embedded.detach()).abs().max().item<double>(), 1e-12);
      EXPECT_NEAR(got.loss.item<double>(), loss.item<double>(), 1e-12);
      const auto rows = w.grad().chunk(world, 0)[r];  // embedding's and head's, tied
      EXPECT_LT((got.shard_grad - rows).abs().max().item<double>(), 1e-12) << "rank " << r;
      EXPECT_LT((got.h_grad - hin.grad()).abs().max().item<double>(), 1e-12) << "rank " << r;
    }
  }
}

TEST(TensorParallel, ASizeThatDoesNotSplitIsOneLine) {
  try {
    shard_of(torch::zeros({32, 8}), 0, 0, 3);
    FAIL() << "32 rows were split over 3 ranks";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("a size of 32"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("3 ranks"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace parallax
