// A gpt's state dict file in Hugging Face GPT2LMHeadModel's layout: its names, order and Conv1D
// shapes, the tied head, a bitwise round trip, GPT2Model's and older transformers' files, and
// one-line errors naming the tensor.
#include "models/gpt2_names.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/gpt.h"
#include "test_util.h"
#include "train/state_dict_file.h"

namespace parallax {
namespace {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

GptSpec gpt2_test_spec() {
  GptSpec s = gpt_spec("gpt-mini");
  s.layers = 2, s.heads = 2, s.width = 16, s.context = 12, s.vocab = 11;
  return s;
}

std::shared_ptr<ModelBlocks> random_gpt(int seed) {
  torch::manual_seed(seed);
  auto m = make_gpt(gpt2_test_spec());
  torch::NoGradGuard no_grad;
  for (auto& p : m->parameters()) p.normal_(0, 0.5);  // no zero biases, no unit LayerNorms
  return m;
}

TEST(Gpt2Names, TheModelsTensorsUnderGpt2LMHeadModelsNamesOrderAndShapes) {
  auto model = random_gpt(1);
  const NamedTensors state = gpt2_state(*model);
  // GPT2LMHeadModel(n_layer=2).state_dict(): wte, wpe, 12 per block, ln_f's 2, lm_head.
  ASSERT_EQ(state.size(), 2u + 2 * 12 + 2 + 1);
  const std::vector<std::string> first = {"transformer.wte.weight",
                                          "transformer.wpe.weight",
                                          "transformer.h.0.ln_1.weight",
                                          "transformer.h.0.ln_1.bias",
                                          "transformer.h.0.attn.c_attn.weight",
                                          "transformer.h.0.attn.c_attn.bias",
                                          "transformer.h.0.attn.c_proj.weight",
                                          "transformer.h.0.attn.c_proj.bias",
                                          "transformer.h.0.ln_2.weight",
                                          "transformer.h.0.ln_2.bias",
                                          "transformer.h.0.mlp.c_fc.weight",
                                          "transformer.h.0.mlp.c_fc.bias",
                                          "transformer.h.0.mlp.c_proj.weight",
                                          "transformer.h.0.mlp.c_proj.bias"};
  for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(state[i].first, first[i]);
  EXPECT_EQ(state[26].first, "transformer.ln_f.weight");
  EXPECT_EQ(state[27].first, "transformer.ln_f.bias");
  EXPECT_EQ(state[28].first, "lm_head.weight");
  // Conv1D's [in, out]: the Linear weight transposed, a view of it.
  const auto params = model->named_parameters();
  const auto c_attn = params["h.0.attn.c_attn.weight"];
  EXPECT_EQ(state[4].second.sizes(), (std::vector<int64_t>{16, 48}));
  EXPECT_TRUE(torch::equal(state[4].second, c_attn.t()));
  EXPECT_EQ(state[4].second.data_ptr(), c_attn.data_ptr());
  EXPECT_EQ(state[10].second.sizes(), (std::vector<int64_t>{16, 64}));  // mlp.c_fc
  EXPECT_EQ(state[12].second.sizes(), (std::vector<int64_t>{64, 16}));  // mlp.c_proj
  // The head is the token embedding, [vocab, width], as GPT-2 ties them.
  EXPECT_EQ(state[28].second.data_ptr(), params["embed.wte.weight"].data_ptr());
  EXPECT_EQ(state[28].second.sizes(), (std::vector<int64_t>{11, 16}));
}

TEST(Gpt2Names, ExportThenInitFromGivesBitwiseTheSameParameters) {
  testing::TempDir dir;
  auto a = random_gpt(1), b = random_gpt(2);
  EXPECT_EQ(save_state_dict_file(*a, dir / "a.pt"), 29u);
  load_state_dict_file(dir / "a.pt", *b);
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  // And so the same logits.
  a->eval(), b->eval();
  const auto x = torch::randint(11, {2, 12}, torch::kLong);
  EXPECT_TRUE(torch::equal(a->forward(x), b->forward(x)));
}

// What a GPT2LMHeadModel file may hold besides: saved by transformers before 4.27 (the causal
// mask buffers), or by GPT2Model (no "transformer." prefix, no head).
TEST(Gpt2Names, Gpt2ModelsFilesAndOldMaskBuffersLoadToo) {
  testing::TempDir dir;
  auto a = random_gpt(1);
  NamedTensors old, bare;
  for (const auto& [name, t] : gpt2_state(*a)) {
    old.emplace_back(name, t);
    if (name != kGpt2Head) bare.emplace_back(name.substr(std::string("transformer.").size()), t);
  }
  for (const char* block : {"transformer.h.0", "transformer.h.1"}) {
    old.emplace_back(std::string(block) + ".attn.bias", torch::ones({1, 1, 12, 12}).tril());
    old.emplace_back(std::string(block) + ".attn.masked_bias", torch::tensor(-1e4));
  }
  save_tensor_dict_file(old, dir / "old.pt");
  save_tensor_dict_file(bare, dir / "gpt2model.pt");
  for (const char* file : {"old.pt", "gpt2model.pt"}) {
    auto b = random_gpt(2);
    load_state_dict_file(dir / file, *b);
    for (const auto& p : a->named_parameters())
      EXPECT_TRUE(torch::equal(p.value(), b->named_parameters()[p.key()])) << file << p.key();
  }
}

TEST(Gpt2Names, AMismatchIsOneLineNamingTheTensor) {
  testing::TempDir dir;
  auto a = random_gpt(1);
  const NamedTensors state = gpt2_state(*a);
  auto save_with = [&](const std::string& file, const std::function<void(NamedTensors&)>& edit) {
    NamedTensors t = state;
    edit(t);
    save_tensor_dict_file(t, dir / file);
    return dir / file;
  };
  auto b = random_gpt(2);
  const std::string missing =
      save_with("missing.pt", [](NamedTensors& t) { t.erase(t.begin() + 5); });  // c_attn.bias
  testing::expect_user_error(
      [&] { load_state_dict_file(missing, *b); },
      {"missing.pt", "no tensor 'transformer.h.0.attn.c_attn.bias'", "GPT2LMHeadModel"});
  const std::string extra = save_with("extra.pt", [](NamedTensors& t) {
    t.emplace_back("transformer.h.2.ln_1.weight", t[2].second);
  });
  testing::expect_user_error([&] { load_state_dict_file(extra, *b); },
                             {"tensor 'transformer.h.2.ln_1.weight' is not in the model"});
  // A Linear's own [out, in] where Conv1D's [in, out] belongs.
  const std::string linear =
      save_with("linear.pt", [](NamedTensors& t) { t[4].second = t[4].second.t(); });
  testing::expect_user_error(
      [&] { load_state_dict_file(linear, *b); },
      {"tensor 'transformer.h.0.attn.c_attn.weight' has shape [48, 16], the model's is [16, 48]"});
  const std::string untied =
      save_with("untied.pt", [](NamedTensors& t) { t.back().second = t.back().second + 1; });
  testing::expect_user_error([&] { load_state_dict_file(untied, *b); },
                             {"'lm_head.weight' differs from 'transformer.wte.weight'"});
  // Another vocabulary.
  GptSpec s = gpt2_test_spec();
  s.vocab = 13;
  auto wider = make_gpt(s);
  save_state_dict_file(*a, dir / "a.pt");
  testing::expect_user_error(
      [&] { load_state_dict_file(dir / "a.pt", *wider); },
      {"'transformer.wte.weight' has shape [11, 16], the model's is [13, 16]", "vocabulary"});
}

}  // namespace
}  // namespace parallax
