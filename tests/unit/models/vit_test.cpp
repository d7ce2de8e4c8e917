// The ViT block list: timm's parameter count for vit-tiny, its block names, attention over every
// token, fused attention equal to the explicit form, and sizes that do not fit.
#include "models/vit.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "distributed/torch_compat.h"
#include "models/make_model.h"
#include "attention_kernels.h"
#include "test_util.h"

namespace parallax {
namespace {

VitSpec tiny_vit(bool fused = true) {
  VitSpec s = vit_spec("vit-tiny", 8, 3, 5);
  s.layers = 2, s.heads = 2, s.width = 16;
  s.fused_attention = fused;
  return s;
}

TEST(Vit, VitTinyHasTimmsParameterCountAndNamedBlocks) {
  // timm 1.0.20: VisionTransformer(img_size=32, patch_size=4, embed_dim=192, depth=12,
  // num_heads=3, num_classes=10) has 5,362,762 parameters.
  const auto model = make_model({"vit-tiny", 3, 10, false, 32});
  EXPECT_EQ(model->parameter_count(), 5'362'762);
  const auto names = model->block_names();
  ASSERT_EQ(names.size(), 14u);
  EXPECT_EQ(names.front(), "embed");
  EXPECT_EQ(names[1], "blocks.0");
  EXPECT_EQ(names.back(), "head");
  EXPECT_TRUE(model->named_parameters().contains("blocks.0.attn.qkv.weight"));
  EXPECT_TRUE(model->named_parameters().contains("blocks.11.mlp.fc2.weight"));
}

TEST(Vit, EveryPatchReachesTheClassTokensLogits) {
  auto model = make_vit(tiny_vit());
  model->set_floating_dtype(torch::kDouble);
  model->eval();
  torch::manual_seed(0);
  auto x = torch::randn({2, 3, 8, 8}, torch::kDouble);
  const auto before = model->forward(x);
  ASSERT_EQ(before.sizes(), (std::vector<int64_t>{2, 5}));
  x[0].slice(1, 4, 8).slice(2, 4, 8) += 1.0;  // the last of the four 4x4 patches, image 0 only
  const auto after = model->forward(x);
  EXPECT_GT((before[0] - after[0]).abs().max().item<double>(), 1e-6);  // not causal
  EXPECT_TRUE(torch::equal(before[1], after[1]));
}

TEST(Vit, FusedAttentionEqualsTheExplicitForm) {
  if (!compat::kHasFusedAttention)
    GTEST_SKIP() << "LibTorch " << compat::torch_version() << " has no scaled_dot_product_attention";
  torch::manual_seed(1);
  const auto x = torch::randn({3, 3, 8, 8}, torch::kDouble);
  testing::expect_fused_attention_equals_explicit(
      [](bool fused) { return make_vit(tiny_vit(fused)); }, x);
}

TEST(Vit, SizesThatDoNotFitAreOneLine) {
  VitSpec s = tiny_vit();
  s.image_size = 10;
  testing::expect_user_error([&] { make_vit(s); }, {"4x4 patches", "10x10", "--image-size"});
  s = tiny_vit();
  s.heads = 3;
  testing::expect_user_error([&] { make_vit(s); }, {"width 16", "3 heads"});
  testing::expect_user_error([] { vit_spec("vit-huge", 32, 3, 10); }, {"vit-huge", "vit-tiny"});
}

}  // namespace
}  // namespace parallax
