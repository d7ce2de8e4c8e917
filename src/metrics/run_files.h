// The run directory's tables: steps.csv and epochs.csv, rendered from the trainer's records.
#pragma once
#include <string>
#include <vector>

#include "metrics/train_records.h"

namespace parallax {

std::string steps_csv(const std::vector<StepRecord>& steps);
std::string epochs_csv(const std::vector<EpochRecord>& epochs);

// Writes steps.csv and epochs.csv under dir, each atomically.
void write_run_tables(const std::string& dir, const TrainState& state);

}  // namespace parallax
