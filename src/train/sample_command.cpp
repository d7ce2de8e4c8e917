// The sample command: the run's model and vocabulary -> the prompt encoded -> generate -> decoded.
#include "train/sample_command.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "config/user_error.h"
#include "data/vocabulary.h"
#include "models/blocks.h"
#include "models/generate.h"
#include "models/make_model.h"
#include "train/checkpoint.h"
#include "train/run_model.h"

namespace parallax {

CLI::App* add_sample_command(CLI::App& app, SampleOptions& opts) {
  auto* cmd = app.add_subcommand(
      "sample",
      "print text a trained language model (a gpt run) writes after a prompt: the prompt, then "
      "--tokens more, each drawn from the model's next-token distribution");
  cmd->add_option("run_dir", opts.run_dir, "run directory (its checkpoint and vocabulary.json)")
      ->required();
  cmd->add_option("--tokens", opts.tokens, "how many tokens to generate")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--prompt", opts.prompt,
                  "the text to continue: characters of the run's vocabulary (shakespeare), any "
                  "text (text: bytes), or token numbers separated by spaces (synthetic-text)")
      ->required();
  cmd->add_option("--temperature", opts.temperature,
                  "logits divided by it before the draw: below 1 plays safer, above 1 wilder; 0 "
                  "always takes the likeliest token")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--top-k", opts.top_k, "draw among the K likeliest tokens only (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--seed", opts.seed, "the draws' seed: the same seed gives the same text")
      ->capture_default_str();
  return cmd;
}

std::string sample_text(const SampleOptions& opts) {
  // An image run's folder is named as such before its checkpoint is read.
  if (std::filesystem::exists(opts.run_dir + "/config.json")) {
    const std::string model = load_run_config(opts.run_dir).model;
    if (!is_language_model(model))
      throw UserError(opts.run_dir + ": a " + model + " run; sample needs a language model's " +
                      "(--model gpt-...)");
  }
  const RunModel run = load_run_model(opts.run_dir);
  const Vocabulary vocabulary = load_vocabulary(opts.run_dir);
  const std::vector<int64_t> prompt = encode(vocabulary, opts.prompt);
  if (prompt.empty())
    throw UserError("--prompt: empty; give at least one " +
                    std::string(vocabulary.token == "token" ? "token number" : "character") +
                    " to continue");
  GenerateOptions g;
  g.tokens = opts.tokens;
  g.context = context_of(run.config.model, run.config.context);
  g.temperature = opts.temperature;
  g.top_k = opts.top_k;
  g.seed = opts.seed;
  return decode(vocabulary, generate(*run.model, prompt, g));
}

void sample_main(const SampleOptions& opts) {
  const std::string text = sample_text(opts) + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
}

}  // namespace parallax
