// memory_plan_main(): builds the model as training would, profiles the activations at each
// micro-batch shape the candidates use, and prints (and writes) one prediction per candidate and
// rank.
#include "plan/plan_command.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdio>

#include "config/options.h"
#include "config/user_error.h"
#include "config/validate.h"
#include "metrics/atomic_file.h"
#include "models/blocks.h"
#include "models/partition.h"
#include "plan/memory_model.h"
#include "plan/plan_workload.h"

namespace parallax {

namespace {

double in_mib(int64_t bytes) {
  return bytes / (1024.0 * 1024.0);
}

std::vector<MemoryCandidate> candidates(const PlanOptions& o, const std::vector<size_t>& cuts) {
  const Config& c = o.cfg;
  const int n = o.world > 0 ? o.world : 2;
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
    for (int stage : {1, 2, 3})
      add("zero-" + std::to_string(stage) + ranks, "zero", n)->zero_stage = stage;
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

int memory_plan_main(const PlanOptions& opts) {
  Config cfg = opts.cfg;
  validate(cfg);
  const PlanModel pm = build_plan_model(cfg);
  auto& model = pm.model;
  const auto& sample = pm.sample;
  const torch::Device device = pm.device;
  MemoryWorkload w = memory_workload(cfg, pm);
  // The cut training would choose (by --split-at, or --balance over the same profile).
  std::vector<size_t> cuts;
  const int world = opts.world > 0 ? opts.world : 2;
  if (world > 1) {
    const std::string by = cfg.split_at.empty() ? cfg.balance : "params";
    const int micro = cfg.micro_batches > 0 ? cfg.micro_batches : 4 * world;
    std::vector<int64_t> input{std::max<int64_t>(1, cfg.batch_size / micro)};
    input.insert(input.end(), sample.begin(), sample.end());
    const auto costs = block_costs(*model, by, input, device);
    cuts = (cfg.split_at.empty() ? partition_balanced(costs, world)
                                 : partition_at(model->block_names(), cfg.split_at, world))
               .cuts;
  }
  const auto list = candidates(opts, cuts);
  for (const auto& c : list) add_activations(cfg, pm, micro_batch_rows(w, c), w);

  std::printf(
      "predicted memory per rank (MiB), %s, batch %lld, %s, %s; model states by the ZeRO "
      "rule in the last column\n",
      cfg.model.c_str(), static_cast<long long>(cfg.batch_size), cfg.optimizer.c_str(),
      cfg.dtype.c_str());
  std::printf("%-22s %4s %10s %10s %10s %11s %10s %10s\n", "candidate", "rank", "params", "grads",
              "optimizer", "activations", "peak", "zero-rule");
  nlohmann::json rows = nlohmann::json::array();
  int64_t psi = 0;
  for (int64_t p : w.block_params) psi += p;
  for (const auto& c : list) {
    const auto ranks = predict_memory(w, c);
    const int stage = c.strategy == "zero" ? c.zero_stage : 0;
    const bool replicated = c.strategy != "model" && c.strategy != "pipeline";
    const double rule = zero_rule_bytes(stage, static_cast<double>(psi), replicated ? c.world : 1,
                                        w.element_bytes, w.optimizer_slots * w.element_bytes);
    for (size_t r = 0; r < ranks.size(); ++r) {
      const auto& m = ranks[r];
      if (replicated && r > 0) break;  // the ranks are alike
      char rule_text[32] = "-";
      if (replicated) std::snprintf(rule_text, sizeof rule_text, "%.1f", rule / (1024.0 * 1024.0));
      std::printf("%-22s %4s %10.1f %10.1f %10.1f %11.1f %10.1f %10s\n", c.label.c_str(),
                  replicated ? "all" : std::to_string(r).c_str(), in_mib(m.parameters),
                  in_mib(m.gradients), in_mib(m.optimizer_state), in_mib(m.activations),
                  in_mib(m.peak), rule_text);
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
  if (!opts.json.empty())
    write_file_atomic(opts.json, nlohmann::json{{"rows", rows}}.dump(2) + "\n");
  return 0;
}

}  // namespace parallax
