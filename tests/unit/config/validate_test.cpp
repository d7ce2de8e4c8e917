// Config validation and the CLI's option table: bad values are caught, given options override.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include <limits>

#include "config/config_json.h"
#include "config/options.h"
#include "config/user_error.h"
#include "config/validate.h"

namespace parallax {
namespace {

// Expects validate() to reject cfg with a message that names `option`.
void expect_rejected(const Config& cfg, const std::string& option) {
  try {
    validate(cfg);
    ADD_FAILURE() << "accepted a bad " << option;
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(option), std::string::npos) << e.what();
  }
}

TEST(Validate, DefaultsAreValid) {
  EXPECT_NO_THROW(validate(Config{}));
}

TEST(Validate, RejectsEachBadValueNamingItsOption) {
  Config c;
  c.batch_size = 0;
  expect_rejected(c, "--batch-size");
  c = Config{};
  c.lr = -0.1;
  expect_rejected(c, "--lr");
  c = Config{};
  c.epochs = 0;
  expect_rejected(c, "--epochs");
  c = Config{};
  c.target_accuracy = 90;  // a percentage where a fraction belongs
  expect_rejected(c, "--target-accuracy");
  c = Config{};
  c.momentum = 1.0;
  expect_rejected(c, "--momentum");
  c = Config{};
  c.device = "gpu";
  expect_rejected(c, "--device");
  c = Config{};
  c.optimizer = "adam";
  c.nesterov = true;
  expect_rejected(c, "--nesterov");
  c = Config{};
  c.warmup = 5;
  c.epochs = 2;
  expect_rejected(c, "--warmup");
  c = Config{};
  c.image_size = 4;
  expect_rejected(c, "--image-size");
  c = Config{};
  c.model = "resnet20";
  c.recompute = "selective";  // a ResNet has no attention core to recompute
  expect_rejected(c, "--recompute");
  c.model = "vit-tiny";
  EXPECT_NO_THROW(validate(c));
}

TEST(Validate, AdamwBetasInZeroToOneAndGradClipNotNegative) {
  Config c;
  c.optimizer = "adamw";
  c.beta1 = 0;
  c.beta2 = 0.99;
  c.grad_clip = 1;
  EXPECT_NO_THROW(validate(c));
  for (double bad : {1.0, -0.1, 1.5}) {
    Config b = c;
    b.beta1 = bad;
    expect_rejected(b, "--beta1");
    b = c;
    b.beta2 = bad;
    expect_rejected(b, "--beta2");
  }
  Config b = c;
  b.grad_clip = -1;
  expect_rejected(b, "--grad-clip");
  b.grad_clip = std::numeric_limits<double>::infinity();
  expect_rejected(b, "--grad-clip");
  // Betas belong to adam and adamw: given with sgd they would be silently ignored.
  b = Config{};
  b.beta2 = 0.99;
  expect_rejected(b, "--beta2");
  b.optimizer = "adam";
  EXPECT_NO_THROW(validate(b));
}

Config parse(CLI::App& app, Config& cfg, std::vector<std::string> args) {
  std::reverse(args.begin(), args.end());  // CLI11 takes a vector in reverse order
  app.parse(args);
  return cfg;
}

TEST(Options, ParseSetsFieldsAndRejectsUnknownChoices) {
  Config cfg;
  CLI::App app;
  add_train_options(app, cfg);
  parse(app, cfg, {"--model", "resnet20", "--batch-size", "64", "--no-augment", "--lr", "0.2"});
  EXPECT_EQ(cfg.model, "resnet20");
  EXPECT_EQ(cfg.batch_size, 64);
  EXPECT_FALSE(cfg.augment);
  EXPECT_DOUBLE_EQ(cfg.lr, 0.2);
  EXPECT_EQ(cfg.optimizer, "sgd");
  EXPECT_DOUBLE_EQ(cfg.beta1, 0.9);
  EXPECT_DOUBLE_EQ(cfg.beta2, 0.999);
  EXPECT_EQ(cfg.grad_clip, 0);

  Config adamw;
  CLI::App app3;
  add_train_options(app3, adamw);
  parse(app3, adamw,
        {"--optimizer", "adamw", "--beta1", "0.8", "--beta2", "0.99", "--grad-clip", "1.5"});
  EXPECT_EQ(adamw.optimizer, "adamw");
  EXPECT_DOUBLE_EQ(adamw.beta1, 0.8);
  EXPECT_DOUBLE_EQ(adamw.beta2, 0.99);
  EXPECT_DOUBLE_EQ(adamw.grad_clip, 1.5);

  Config other;
  CLI::App app2;
  add_train_options(app2, other);
  EXPECT_THROW(parse(app2, other, {"--model", "vgg16"}), CLI::ValidationError);
}

TEST(Options, ResumeKeepsSavedValuesUnlessGivenAgain) {
  Config saved;
  saved.model = "resnet20";
  saved.epochs = 2;
  saved.lr = 0.3;
  saved.augment = false;
  Config given;
  CLI::App app;
  add_train_options(app, given);
  parse(app, given, {"--epochs", "5", "--resume", "runs/x"});
  const Config merged = merge_resumed_config(app, given, saved);
  EXPECT_EQ(merged.epochs, 5);          // given now
  EXPECT_EQ(merged.model, "resnet20");  // saved
  EXPECT_DOUBLE_EQ(merged.lr, 0.3);     // saved, although the default differs
  EXPECT_FALSE(merged.augment);         // saved flag
}

TEST(ConfigJson, RoundTripsEveryField) {
  Config c;
  c.model = "resnet56";
  c.seed = 12345678901ULL;
  c.warmup = 0.5;
  c.nesterov = true;
  c.optimizer = "adamw";
  c.beta1 = 0.85;
  c.beta2 = 0.99;
  c.grad_clip = 0.5;
  const Config back = nlohmann::json(c).get<Config>();
  EXPECT_EQ(nlohmann::json(back), nlohmann::json(c));
  EXPECT_EQ(back.seed, 12345678901ULL);
  EXPECT_EQ(back.optimizer, "adamw");
  EXPECT_EQ(back.beta1, 0.85);
  EXPECT_EQ(back.beta2, 0.99);
  EXPECT_EQ(back.grad_clip, 0.5);
}

}  // namespace
}  // namespace parallax
