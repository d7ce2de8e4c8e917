// TrainState <-> JSON, for checkpoints.
#include "metrics/train_records.h"

#include <limits>

namespace parallax {

#define PARALLAX_JSON_FUNCS(Type, ...)                                                      \
  void to_json(nlohmann::json& nlohmann_json_j, const Type& nlohmann_json_t) {              \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_TO, __VA_ARGS__))                \
  }                                                                                         \
  void from_json(const nlohmann::json& given, Type& nlohmann_json_t) {                      \
    const nlohmann::json nlohmann_json_j = nan_for_null(given);                             \
    const Type nlohmann_json_default_obj{}; /* older files lack newer fields */             \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_FROM_WITH_DEFAULT, __VA_ARGS__)) \
  }

namespace {

// JSON has no inf or nan: nlohmann writes a non-finite figure (an epoch's test loss that
// overflowed) as null; its fields read it back as nan (only floating-point figures are ever
// non-finite).
nlohmann::json nan_for_null(const nlohmann::json& j) {
  nlohmann::json out = j;
  if (out.is_object())
    for (auto& [key, value] : out.items())
      if (value.is_null()) value = std::numeric_limits<double>::quiet_NaN();
  return out;
}

}  // namespace

// JSON has no inf or nan: nlohmann writes a step's non-finite figure (an fp16 step's overflowed
// gradient norm) as null, which is read back as nan.
void to_json(nlohmann::json& j, const StepRecord& r) {
  j = {{"step", r.step},         {"epoch", r.epoch},       {"images", r.images},
       {"correct", r.correct},   {"loss", r.loss},         {"lr", r.lr},
       {"step_s", r.step_s},     {"data_s", r.data_s},     {"compute_s", r.compute_s},
       {"comm_s", r.comm_s},     {"comm_busy_s", r.comm_busy_s}, {"idle_s", r.idle_s},
       {"loss_scale", r.loss_scale}, {"skipped", r.skipped}, {"grad_norm", r.grad_norm},
       {"gather_wait_s", r.gather_wait_s}};
}

void from_json(const nlohmann::json& j, StepRecord& r) {
  const StepRecord defaults{};
  auto number = [&](const char* key, double fallback) {
    if (!j.contains(key)) return fallback;  // older files lack newer fields
    const auto& v = j.at(key);
    return v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>();
  };
  r.step = j.value("step", defaults.step);
  r.epoch = j.value("epoch", defaults.epoch);
  r.images = j.value("images", defaults.images);
  r.correct = j.value("correct", defaults.correct);
  r.loss = number("loss", defaults.loss);
  r.lr = number("lr", defaults.lr);
  r.step_s = number("step_s", defaults.step_s);
  r.data_s = number("data_s", defaults.data_s);
  r.compute_s = number("compute_s", defaults.compute_s);
  r.comm_s = number("comm_s", defaults.comm_s);
  r.comm_busy_s = number("comm_busy_s", defaults.comm_busy_s);
  r.idle_s = number("idle_s", defaults.idle_s);
  r.loss_scale = number("loss_scale", defaults.loss_scale);
  r.skipped = j.value("skipped", defaults.skipped);
  r.grad_norm = number("grad_norm", defaults.grad_norm);
  r.gather_wait_s = number("gather_wait_s", defaults.gather_wait_s);
}
PARALLAX_JSON_FUNCS(EpochRecord, epoch, steps, train_loss, train_accuracy, test_loss, test_accuracy,
                    train_time_s, eval_time_s, images_per_sec, lr, elapsed_train_s)
PARALLAX_JSON_FUNCS(EpochProgress, steps, images, correct, loss_sum, train_time_s)
PARALLAX_JSON_FUNCS(TrainState, next_epoch, step, in_epoch, epochs_to_target, time_to_target_s,
                    epochs, steps, restarts, steps_redone)

}  // namespace parallax
