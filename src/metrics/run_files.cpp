// CSV rendering with full precision (%.9g) so that files round-trip the numbers they hold.
#include "metrics/run_files.h"

#include <cstdarg>
#include <cstdio>

#include "metrics/atomic_file.h"

namespace parallax {
namespace {

std::string fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* format, ...) {
  char buf[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buf, sizeof(buf), format, args);
  va_end(args);
  return buf;
}

}  // namespace

std::string steps_csv(const std::vector<StepRecord>& steps) {
  std::string out =
      "step,epoch,images,correct,loss,lr,step_s,data_s,compute_s,comm_s,loss_scale,skipped,"
      "comm_busy_s,idle_s,grad_norm,gather_wait_s\n";
  for (const auto& r : steps)
    out += fmt("%lld,%lld,%lld,%lld,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%d,%.9g,%.9g,%.9g,%.9g\n",
               static_cast<long long>(r.step), static_cast<long long>(r.epoch),
               static_cast<long long>(r.images), static_cast<long long>(r.correct), r.loss, r.lr,
               r.step_s, r.data_s, r.compute_s, r.comm_s, r.loss_scale, r.skipped ? 1 : 0,
               r.comm_busy_s, r.idle_s, r.grad_norm, r.gather_wait_s);
  return out;
}

std::string epochs_csv(const std::vector<EpochRecord>& epochs) {
  std::string out =
      "epoch,steps,train_loss,train_accuracy,test_loss,test_accuracy,train_time_s,eval_time_s,"
      "images_per_sec,lr,elapsed_train_s\n";
  for (const auto& r : epochs)
    out += fmt("%lld,%lld,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n",
               static_cast<long long>(r.epoch), static_cast<long long>(r.steps), r.train_loss,
               r.train_accuracy, r.test_loss, r.test_accuracy, r.train_time_s, r.eval_time_s,
               r.images_per_sec, r.lr, r.elapsed_train_s);
  return out;
}

void write_run_tables(const std::string& dir, const TrainState& state) {
  write_file_atomic(dir + "/steps.csv", steps_csv(state.steps));
  write_file_atomic(dir + "/epochs.csv", epochs_csv(state.epochs));
}

}  // namespace parallax
