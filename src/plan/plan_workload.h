// What `plan` builds before it can price anything: the model as training would build it (the
// dataset's shape where a named one is given), and the memory model's workload over it.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "plan/memory_model.h"

namespace parallax {

class ModelBlocks;

struct PlanModel {
  std::shared_ptr<ModelBlocks> model;
  std::vector<int64_t> sample;  // one image: C, H, W
  torch::Device device = torch::kCPU;
};

PlanModel build_plan_model(const Config& cfg);

// The memory model's inputs from the model and config (activations are added per micro-batch size
// by add_activations).
MemoryWorkload memory_workload(const Config& cfg, const PlanModel& m);
// The memory model's workload under each --recompute setting, each profiled under its own
// setting, made from one without activations as first asked for.
class WorkloadsByRecompute {
 public:
  explicit WorkloadsByRecompute(MemoryWorkload base) : base_(std::move(base)) {}
  MemoryWorkload& under(const std::string& recompute);

 private:
  MemoryWorkload base_;
  std::map<std::string, MemoryWorkload> made_;
};

// Profiles the activations at `rows` under w.recompute (once per size; a progress line on stderr
// each). Under recomputation, what a recomputed block builds again needs the activations
// without: `plain`'s (a workload without recomputation, profiled at these sizes first) where
// given, else profiled here too. With largest > 0, sizes above it are profiled at `largest`
// images and taken as proportional.
void add_activations(const Config& cfg, const PlanModel& m, int64_t rows, MemoryWorkload& w,
                     int64_t largest = 0, bool quiet = false,
                     const MemoryWorkload* plain = nullptr);

}  // namespace parallax
