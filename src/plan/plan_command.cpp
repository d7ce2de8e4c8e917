// plan_main(): builds the model as training would, profiles the activations at each micro-batch
// shape the candidates use, and prints (and writes) one prediction per candidate and rank.
#include "plan/plan_command.h"

#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "config/options.h"
#include "config/user_error.h"
#include "config/validate.h"
#include "data/load_dataset.h"
#include "metrics/atomic_file.h"
#include "models/partition.h"
#include "models/resnet.h"
#include "plan/activation_profile.h"
#include "plan/memory_model.h"

namespace parallax {

CLI::App* add_plan_command(CLI::App& app, PlanOptions& opts) {
  auto* plan = app.add_subcommand(
      "plan", "predict, before running anything, what each strategy needs: --memory prints each "
              "rank's bytes by kind for single, ddp, zero 1/2/3, model and pipeline");
  add_train_options(*plan, opts.cfg);
  plan->add_option("--world", opts.world, "ranks to plan for (ddp, zero and the pipeline stages)")
      ->check(CLI::Range(1, 4096));
  plan->add_flag("--memory", opts.memory, "the memory model: bytes per rank by kind")->required();
  plan->add_option("--json", opts.json, "also write the predictions to this file (JSON)");
  return plan;
}

namespace {

double mib(int64_t bytes) {
  return bytes / (1024.0 * 1024.0);
}

std::vector<MemoryCandidate> candidates(const PlanOptions& o, const std::vector<size_t>& cuts) {
  const Config& c = o.cfg;
  const int n = o.world;
  std::vector<MemoryCandidate> out;
  auto add = [&](const std::string& label, const std::string& strategy, int world) {
    MemoryCandidate m;
    m.label = label;
    m.strategy = strategy;
    m.world = world;
    m.buckets_in_flight = c.buckets_in_flight;
    m.reshard_after_forward = c.reshard_after_forward;
    out.push_back(m);
    return &out.back();
  };
  add("single", "single", 1);
  if (n > 1) {
    const std::string ranks = " nproc " + std::to_string(n);
    add("ddp" + ranks, "ddp", n);
    for (int stage : {1, 2, 3}) add("zero-" + std::to_string(stage) + ranks, "zero", n)->zero_stage = stage;
    const int micro = c.micro_batches > 0 ? c.micro_batches : 4 * n;
    add("model" + ranks, "model", n)->cuts = cuts;
    for (const char* schedule : {"gpipe", "1f1b"}) {
      MemoryCandidate* p =
          add(std::string("pipeline ") + schedule + " m" + std::to_string(micro), "pipeline", n);
      p->schedule = schedule;
      p->micro_batches = micro;
      p->cuts = cuts;
    }
  }
  return out;
}

}  // namespace

int plan_main(const PlanOptions& opts) {
  Config cfg = opts.cfg;
  validate(cfg);
  const torch::Device device(cfg.device == "cuda" ? torch::kCUDA : torch::kCPU);
  int64_t channels = cfg.channels, size = cfg.image_size, classes = cfg.classes;
  if (cfg.dataset != "synthetic") {
    const Dataset data = load_dataset(cfg);
    channels = data.channels();
    size = data.height();
    classes = data.classes;
  }
  auto model = make_resnet({cfg.model, channels, classes, cfg.norm == "batch"});
  model->set_floating_dtype(cfg.dtype == "fp64" ? torch::kDouble : torch::kFloat);
  model->to(device);
  const std::vector<int64_t> sample{channels, size, size};

  MemoryWorkload w;
  w.element_bytes = cfg.dtype == "fp64" ? 8 : 4;
  w.optimizer_slots = cfg.optimizer == "adam" ? 2 : (cfg.momentum > 0 ? 1 : 0);
  w.batch = cfg.batch_size;
  w.input_bytes_per_image = channels * size * size * w.element_bytes;
  w.bucket_mb = cfg.bucket_mb;
  w.tail_bucket_mb = cfg.tail_bucket_mb;
  w.wire_bf16 = cfg.grad_reduce_dtype == "bf16";
  const auto by_block = model->parameter_indices_by_block();
  const auto params = model->parameters();
  for (size_t b = 0; b < model->blocks().size(); ++b) {
    int64_t numel = 0, buffers = 0;
    for (size_t k : by_block[b]) {
      numel += params[k].numel();
      w.param_numels.push_back(params[k].numel());
      w.param_block.push_back(b);
    }
    for (const auto& t : model->blocks()[b].block->buffers()) buffers += t.numel() * t.element_size();
    w.block_params.push_back(numel);
    w.block_buffer_bytes.push_back(buffers);
  }
  // The cut training would choose (by --split-at, or --balance over the same profile).
  std::vector<size_t> cuts;
  if (opts.world > 1) {
    const std::string by = cfg.split_at.empty() ? cfg.balance : "params";
    const int micro = cfg.micro_batches > 0 ? cfg.micro_batches : 4 * opts.world;
    std::vector<int64_t> input{std::max<int64_t>(1, cfg.batch_size / micro)};
    input.insert(input.end(), sample.begin(), sample.end());
    const auto costs = block_costs(*model, by, input, device);
    cuts = (cfg.split_at.empty() ? partition_balanced(costs, opts.world)
                                 : partition_at(model->block_names(), cfg.split_at, opts.world))
               .cuts;
  }
  const auto list = candidates(opts, cuts);
  for (const auto& c : list) {
    const int64_t rows = micro_batch_rows(w, c);
    if (w.activations_by_rows.count(rows)) continue;
    std::fprintf(stderr, "parallax: profiling %s's blocks at %lld images per micro-batch\n",
                 cfg.model.c_str(), static_cast<long long>(rows));
    const ActivationProfile profile =
        profile_activations(*model, sample, rows, device, precision_for(cfg, device));
    w.activations_by_rows[rows] = profile.activations;
    w.workspace_by_rows[rows] = profile.workspace;
  }

  std::printf("predicted memory per rank (MiB), %s, batch %lld, %s, %s; model states by the ZeRO "
              "rule in the last column\n",
              cfg.model.c_str(), static_cast<long long>(cfg.batch_size), cfg.optimizer.c_str(),
              cfg.dtype.c_str());
  std::printf("%-22s %4s %10s %10s %10s %11s %10s %10s\n", "candidate", "rank", "params",
              "grads", "optimizer", "activations", "peak", "zero-rule");
  nlohmann::json rows = nlohmann::json::array();
  int64_t psi = 0;
  for (int64_t p : w.block_params) psi += p;
  for (const auto& c : list) {
    const auto ranks = predict_memory(w, c);
    const int stage = c.strategy == "zero" ? c.zero_stage : 0;
    const bool replicated = c.strategy != "model" && c.strategy != "pipeline";
    const double rule =
        zero_rule_bytes(stage, static_cast<double>(psi), replicated ? c.world : 1,
                        w.element_bytes, w.optimizer_slots * w.element_bytes);
    for (size_t r = 0; r < ranks.size(); ++r) {
      const auto& m = ranks[r];
      if (replicated && r > 0) break;  // the ranks are alike
      char rule_text[32] = "-";
      if (replicated) std::snprintf(rule_text, sizeof rule_text, "%.1f", rule / (1024.0 * 1024.0));
      std::printf("%-22s %4s %10.1f %10.1f %10.1f %11.1f %10.1f %10s\n", c.label.c_str(),
                  replicated ? "all" : std::to_string(r).c_str(), mib(m.parameters),
                  mib(m.gradients), mib(m.optimizer_state), mib(m.activations), mib(m.peak),
                  rule_text);
      rows.push_back({{"label", c.label},
                      {"strategy", c.strategy},
                      {"world", c.world},
                      {"zero_stage", c.zero_stage},
                      {"schedule", c.schedule},
                      {"micro_batches", c.micro_batches},
                      {"rank", replicated ? -1 : static_cast<int>(r)},
                      {"predicted_memory",
                       {{"parameters", m.parameters},
                        {"gradients", m.gradients},
                        {"optimizer_state", m.optimizer_state},
                        {"activations", m.activations},
                        {"other", m.other},
                        {"peak", m.peak}}},
                      {"zero_rule_bytes", replicated ? nlohmann::json(rule) : nlohmann::json()}});
    }
  }
  if (!opts.json.empty()) write_file_atomic(opts.json, nlohmann::json{{"rows", rows}}.dump(2) + "\n");
  return 0;
}

}  // namespace parallax
