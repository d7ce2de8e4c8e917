// What `plan` builds before it can price anything: the model as training would build it (the
// dataset's shape where a named one is given), and the memory model's workload over it.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <memory>
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
// Profiles the activations at `rows` (once per size; a progress line on stderr each). With
// largest > 0, sizes above it are profiled at `largest` images and taken as proportional.
void add_activations(const Config& cfg, const PlanModel& m, int64_t rows, MemoryWorkload& w,
                     int64_t largest = 0, bool quiet = false);

}  // namespace parallax
