// The GPT block list: GPT-2's parameter count, causality, the tied head, fused attention equal to
// the explicit form, and a model that learns a sequence.
#include "models/gpt.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "distributed/torch_compat.h"
#include "attention_kernels.h"
#include "test_util.h"

namespace parallax {
namespace {

GptSpec tiny(bool fused = true) {
  GptSpec s = gpt_spec("gpt-mini");
  s.layers = 2, s.heads = 2, s.width = 16, s.context = 12, s.vocab = 11;
  s.fused_attention = fused;
  return s;
}

torch::Tensor tokens(int64_t batch, int64_t t, int64_t vocab, int seed = 0) {
  torch::manual_seed(seed);
  return torch::randint(vocab, {batch, t}, torch::kLong);
}

TEST(Gpt, Gpt2HasHuggingFacesParameterCountAndNamedBlocks) {
  const auto model = make_gpt(gpt_spec("gpt2"));
  // GPT2LMHeadModel.from_pretrained("gpt2"): 124,439,808 parameters, the head tied to wte.
  EXPECT_EQ(model->parameter_count(), 124'439'808);
  const auto names = model->block_names();
  ASSERT_EQ(names.size(), 14u);
  EXPECT_EQ(names.front(), "embed");
  EXPECT_EQ(names[1], "h.0");
  EXPECT_EQ(names[12], "h.11");
  EXPECT_EQ(names.back(), "head");
  const auto params = model->named_parameters();
  EXPECT_TRUE(params.contains("h.0.attn.c_attn.weight"));
  EXPECT_EQ(params["h.0.attn.c_attn.weight"].sizes(), (std::vector<int64_t>{3 * 768, 768}));
  EXPECT_TRUE(params.contains("head.ln_f.weight"));
  EXPECT_TRUE(params.contains("embed.wpe.weight"));
}

TEST(Gpt, TheHeadIsTiedToTheTokenEmbeddingAndCountedOnce) {
  auto model = make_gpt(tiny());
  std::set<const void*> storages;
  for (const auto& p : model->parameters())
    EXPECT_TRUE(storages.insert(p.data_ptr()).second) << "a parameter listed twice";
  // Both uses of the shared matrix add into its one gradient: the head's (logits) and the
  // embedding's (the rows of the tokens seen). A token never seen still gets the head's part.
  const auto x = torch::zeros({1, 4}, torch::kLong);  // token 0 only
  model->forward(x).sum().backward();
  const auto wte = model->named_parameters()["embed.wte.weight"];
  ASSERT_TRUE(wte.grad().defined());
  EXPECT_GT(wte.grad()[5].abs().sum().item<double>(), 0.0);
}

TEST(Gpt, LogitsAtAPositionDependOnlyOnTheTokensUpToIt) {
  auto model = make_gpt(tiny());
  model->set_floating_dtype(torch::kDouble);
  model->eval();
  auto x = tokens(2, 12, 11);
  const auto before = model->forward(x);
  ASSERT_EQ(before.sizes(), (std::vector<int64_t>{2, 12, 11}));
  x[0][7] = (x[0][7].item<int64_t>() + 1) % 11;
  const auto after = model->forward(x);
  EXPECT_TRUE(torch::equal(before.slice(1, 0, 7), after.slice(1, 0, 7)));
  EXPECT_GT((before[0][7] - after[0][7]).abs().max().item<double>(), 1e-6);
  EXPECT_TRUE(torch::equal(before[1], after[1]));
}

TEST(Gpt, FusedAttentionEqualsTheExplicitForm) {
  if (!compat::kHasFusedAttention)
    GTEST_SKIP() << "LibTorch " << compat::torch_version() << " has no scaled_dot_product_attention";
  testing::expect_fused_attention_equals_explicit(
      [](bool fused) { return make_gpt(tiny(fused)); }, tokens(3, 12, 11, 1));
}

TEST(Gpt, LearnsARepeatingSequence) {
  // Next-token prediction of a cycle through the vocabulary: 0 1 2 ... 10 0 1 ...
  torch::manual_seed(0);
  auto model = make_gpt(tiny());
  const auto seq = torch::arange(13, torch::kLong).remainder(11).repeat({4, 1});
  const auto in = seq.slice(1, 0, 12), target = seq.slice(1, 1, 13);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-2));
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    opt.zero_grad();
    const auto loss = torch::nn::functional::cross_entropy(model->forward(in).reshape({-1, 11}),
                                                           target.reshape({-1}));
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_NEAR(first, std::log(11.0), 0.5);  // about uniform at the start
  EXPECT_LT(last, 0.1 * first) << first << " -> " << last;
}

TEST(Gpt, SizesThatDoNotFitAreOneLine) {
  GptSpec s = tiny();
  s.heads = 3;
  testing::expect_user_error([&] { make_gpt(s); }, {"width 16", "3 heads"});
  testing::expect_user_error([] { gpt_spec("gpt-huge"); }, {"gpt-huge", "gpt-mini"});
}

}  // namespace
}  // namespace parallax
