// TrainState <-> JSON, for checkpoints.
#include "metrics/train_records.h"

namespace parallax {

#define PARALLAX_JSON_FUNCS(Type, ...)                                                      \
  void to_json(nlohmann::json& nlohmann_json_j, const Type& nlohmann_json_t) {              \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_TO, __VA_ARGS__))                \
  }                                                                                         \
  void from_json(const nlohmann::json& nlohmann_json_j, Type& nlohmann_json_t) {            \
    const Type nlohmann_json_default_obj{}; /* older files lack newer fields */             \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_FROM_WITH_DEFAULT, __VA_ARGS__)) \
  }

PARALLAX_JSON_FUNCS(StepRecord, step, epoch, images, correct, loss, lr, step_s, data_s, compute_s,
                    comm_s, comm_busy_s, idle_s, loss_scale, skipped, grad_norm)
PARALLAX_JSON_FUNCS(EpochRecord, epoch, steps, train_loss, train_accuracy, test_loss, test_accuracy,
                    train_time_s, eval_time_s, images_per_sec, lr, elapsed_train_s)
PARALLAX_JSON_FUNCS(EpochProgress, steps, images, correct, loss_sum, train_time_s)
PARALLAX_JSON_FUNCS(TrainState, next_epoch, step, in_epoch, epochs_to_target, time_to_target_s,
                    epochs, steps, restarts, steps_redone)

}  // namespace parallax
