// `parallax plan --memory`: predicted bytes per rank by kind for every strategy, before running
// any, from the block list and one profiled forward per block.
#pragma once
#include <string>

#include "config/config.h"

namespace CLI {
class App;
}

namespace parallax {

struct PlanOptions {
  Config cfg;          // the workload: model, data shape, batch, optimizer, dtype, device
  int world = 2;       // ranks to plan for
  bool memory = false; // the memory model (the only plan so far)
  std::string json;    // also write the rows here (atomically), if given
};

CLI::App* add_plan_command(CLI::App& app, PlanOptions& opts);
int plan_main(const PlanOptions& opts);

}  // namespace parallax
