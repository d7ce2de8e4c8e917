// TrainState and its step and epoch records: plain data the trainer fills, checkpoints save and the
// run files (steps.csv, epochs.csv) are written from.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <vector>

namespace parallax {

struct StepRecord {
  int64_t step = 0, epoch = 0, images = 0, correct = 0;
  double loss = 0, lr = 0, step_s = 0, data_s = 0, compute_s = 0, comm_s = 0, comm_busy_s = 0;
  double gather_wait_s = 0;  // of comm_s: ZeRO's waits for its parameters' all-gathers
  double idle_s = 0;      // waiting on other ranks (a pipeline's bubble), this rank's
  double loss_scale = 1;  // fp16: the loss scale this step's backward ran with (else 1)
  bool skipped = false;   // fp16: gradients overflowed, the optimizer did not step
  double grad_norm = 0;   // the whole model's gradient L2 norm, before --grad-clip
};

struct EpochRecord {
  int64_t epoch = 0, steps = 0;
  double train_loss = 0, train_accuracy = 0, test_loss = 0, test_accuracy = 0;
  double train_time_s = 0, eval_time_s = 0, images_per_sec = 0, lr = 0;
  double elapsed_train_s = 0;  // training time of all epochs so far (evaluation left out)
};

// The unfinished epoch's running sums, so that a checkpoint taken mid-epoch (--checkpoint-every)
// resumes it with the same epoch record an uninterrupted run writes.
struct EpochProgress {
  int64_t steps = 0, images = 0, correct = 0;
  double loss_sum = 0, train_time_s = 0;
};

struct TrainState {
  int64_t next_epoch = 0, step = 0;
  EpochProgress in_epoch;  // of next_epoch: its first in_epoch.steps batches are done
  int64_t epochs_to_target = -1;  // -1: target not (yet) reached
  double time_to_target_s = -1;
  std::vector<EpochRecord> epochs;
  std::vector<StepRecord> steps;
  // Elastic restarts (torchrun --max-restarts): attempts that failed and were restarted, and the
  // steps trained again because they came after the checkpoint the next attempt resumed from.
  int64_t restarts = 0, steps_redone = 0;
};

void to_json(nlohmann::json& j, const StepRecord& r);
void from_json(const nlohmann::json& j, StepRecord& r);
void to_json(nlohmann::json& j, const EpochRecord& r);
void from_json(const nlohmann::json& j, EpochRecord& r);
void to_json(nlohmann::json& j, const EpochProgress& p);
void from_json(const nlohmann::json& j, EpochProgress& p);
void to_json(nlohmann::json& j, const TrainState& s);
void from_json(const nlohmann::json& j, TrainState& s);

}  // namespace parallax
