// TensorBoard scalars from the trainer's records (rank 0 writes them).
#include "metrics/tensorboard_log.h"

#include <algorithm>

#include "metrics/tensorboard_writer.h"

namespace parallax {

TensorboardLog::TensorboardLog(const std::string& dir, int64_t log_every)
    : writer_(std::make_unique<TensorboardWriter>(dir)), log_every_(log_every) {}

TensorboardLog::~TensorboardLog() = default;

void TensorboardLog::step(const StepRecord& r) {
  // Steps count from 1 on TensorBoard's axis: the value after that many optimizer steps.
  const int64_t at = r.step + 1;
  if (at % log_every_ != 0) return;
  writer_->scalar("train/loss", r.loss, at);
  writer_->scalar("train/lr", r.lr, at);
  if (r.step_s > 0) writer_->scalar("train/images_per_sec", r.images / r.step_s, at);
  // As summary.json's comm_hidden_fraction, for this step alone: 1 - exposed / in flight, of the
  // gradients' collectives (ZeRO's waits for its parameters are not theirs).
  if (r.comm_busy_s > 0)
    writer_->scalar("comm/hidden_fraction",
                    std::max(0.0, 1.0 - (r.comm_s - r.gather_wait_s) / r.comm_busy_s), at);
  if (r.idle_s > 0 && r.step_s > 0) writer_->scalar("pipeline/bubble", r.idle_s / r.step_s, at);
  writer_->flush();
}

void TensorboardLog::epoch(const EpochRecord& r, int64_t step,
                           const std::vector<MeasuredMemory>& measured,
                           const std::vector<int64_t>& peak_rss) {
  writer_->scalar("test/accuracy", r.test_accuracy, step);
  writer_->scalar("test/loss", r.test_loss, step);
  writer_->scalar("train/epoch_loss", r.train_loss, step);
  writer_->scalar("train/epoch", static_cast<double>(r.epoch + 1), step);
  for (size_t rank = 0; rank < measured.size(); ++rank)
    if (measured[rank].peak >= 0)
      writer_->scalar("memory/rank" + std::to_string(rank) + "/peak_bytes",
                      static_cast<double>(measured[rank].peak), step);
  for (size_t rank = 0; rank < peak_rss.size(); ++rank)
    writer_->scalar("memory/rank" + std::to_string(rank) + "/peak_rss_bytes",
                    static_cast<double>(peak_rss[rank]), step);
  writer_->flush();
}

}  // namespace parallax
