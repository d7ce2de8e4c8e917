// `parallax plan`: which strategy, and why, before spending the compute. Profiles the workload
// (block times, optimizer, the machine's slowdown under shared load, the collectives on the real
// backend), prices every candidate with the cost model, ranks them in a table with a reason in
// numbers, writes OUT/plan.json, and with --check runs the top ones for real to compare.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "config/config.h"

namespace CLI {
class App;
}

namespace parallax {

struct PlanOptions {
  Config cfg;            // the workload: model, data shape, batch, optimizer, precision, device
  CLI::App* app = nullptr;  // the plan subcommand (to pass the workload's options to --check runs)
  int world = 0;         // ranks to plan for (0: --nproc if given, else 2)
  bool memory = false;   // only the memory model's table
  std::string json;      // --memory: also write the rows here (atomically)
  std::string out;       // folder for profile.json, plan.json and --check's runs (runs/plan)
  std::string check;     // "", "K" (top K plus a spread of the rest) or "all"
  int check_rounds = 2;  // --check runs each row this many times (round after round), best counts
  std::string strategies;        // comma-separated subset of single,ddp,zero,model,pipeline,hybrid
  std::vector<int> micro_batches;  // pipeline micro-batch counts to consider
  // --plan-recompute: recomputation settings to consider, comma-separated among none, full and
  // selective ("": --recompute's if given, else none, selective and full for a transformer and
  // none for a ResNet).
  std::string recompute_modes;
  double memory_per_rank_mib = 0;  // 0: the device's (CPU: this machine's memory / ranks)
  double link_gbps = 0, link_latency_us = 0;  // a link to plan a larger world on paper
  std::string device_profile;      // plan with this profile.json instead of profiling here
  // Writes RUNS' report (main hands it in: the report layer is above this one).
  std::function<std::string(const std::string& runs, const std::string& out)> write_report;
};

CLI::App* add_plan_command(CLI::App& app, PlanOptions& opts);
int plan_main(const PlanOptions& opts, int argc, char** argv);

// `plan --memory`: the memory model's table alone (plan/plan_memory.cpp).
int memory_plan_main(const PlanOptions& opts);

}  // namespace parallax
