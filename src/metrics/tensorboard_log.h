// A run's TensorBoard scalars: what each step and epoch record says, under stable tags.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "metrics/memory_probe.h"
#include "metrics/train_records.h"

namespace parallax {

class TensorboardWriter;

// Per step (every log_every): train/loss, train/lr, train/images_per_sec, and where measured
// comm/hidden_fraction (ddp, zero, hybrid) and pipeline/bubble (this rank's idle share).
// Per epoch: test/accuracy, test/loss, train/epoch_loss, and per rank memory/rank<R>/peak_bytes
// (the allocator's measured peak) and memory/rank<R>/peak_rss_bytes.
class TensorboardLog {
 public:
  TensorboardLog(const std::string& dir, int64_t log_every);
  ~TensorboardLog();
  void step(const StepRecord& r);
  void epoch(const EpochRecord& r, int64_t step, const std::vector<MeasuredMemory>& measured,
             const std::vector<int64_t>& peak_rss);

 private:
  std::unique_ptr<TensorboardWriter> writer_;
  int64_t log_every_;
};

}  // namespace parallax
