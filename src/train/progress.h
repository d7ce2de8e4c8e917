// Progress: one line per epoch; on a terminal the line also redraws as steps go by.
#pragma once
#include <cstdint>
#include <cstdio>

#include "metrics/train_records.h"

namespace parallax {

class Progress {
 public:
  Progress(std::FILE* out, int64_t epochs, int64_t steps_per_epoch);  // redraws if out is a tty
  // A language model's epoch line gives validation loss and perplexity, and tokens/s.
  void set_language_model(int64_t tokens_per_sample) { tokens_per_sample_ = tokens_per_sample; }

  void step(int64_t epoch, int64_t index, double loss, double images_per_sec);
  void epoch(const EpochRecord& r, double eta_s);

 private:
  std::FILE* out_;
  int64_t tokens_per_sample_ = 0;  // 0: images
  bool tty_;
  int64_t epochs_, steps_per_epoch_;
  double last_draw_s_ = -1;
};

}  // namespace parallax
