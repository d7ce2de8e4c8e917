// Progress lines: "\r" + clear-line redraws on a terminal, plain newline-ended lines in logs.
#include "train/progress.h"

#include <cmath>

#include <unistd.h>

#include <chrono>

namespace parallax {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Progress::Progress(std::FILE* out, int64_t epochs, int64_t steps_per_epoch)
    : out_(out),
      tty_(isatty(fileno(out)) != 0),
      epochs_(epochs),
      steps_per_epoch_(steps_per_epoch) {}

void Progress::step(int64_t epoch, int64_t index, double loss, double images_per_sec) {
  if (!tty_) return;
  const double now = now_s();
  if (now - last_draw_s_ < 0.2 && index + 1 < steps_per_epoch_) return;  // ~5 redraws a second
  last_draw_s_ = now;
  std::fprintf(out_, "\r\033[Kepoch %lld/%lld  step %lld/%lld  loss %.4f  %.1f img/s",
               static_cast<long long>(epoch + 1), static_cast<long long>(epochs_),
               static_cast<long long>(index + 1), static_cast<long long>(steps_per_epoch_), loss,
               images_per_sec);
  std::fflush(out_);
}

void Progress::epoch(const EpochRecord& r, double eta_s) {
  if (tty_) std::fputs("\r\033[K", out_);
  if (tokens_per_sample_ > 0) {
    std::fprintf(out_,
                 "epoch %lld/%lld  loss %.4f  validation loss %.4f (perplexity %.2f)  %.0f "
                 "tokens/s  %.1fs  eta %.0fs\n",
                 static_cast<long long>(r.epoch + 1), static_cast<long long>(epochs_),
                 r.train_loss, r.test_loss, std::exp(r.test_loss),
                 r.images_per_sec * static_cast<double>(tokens_per_sample_), r.train_time_s, eta_s);
    std::fflush(out_);
    return;
  }
  std::fprintf(out_,
               "epoch %lld/%lld  loss %.4f  train acc %.2f%%  test acc %.2f%%  %.1f img/s  "
               "%.1fs  eta %.0fs\n",
               static_cast<long long>(r.epoch + 1), static_cast<long long>(epochs_), r.train_loss,
               100 * r.train_accuracy, 100 * r.test_accuracy, r.images_per_sec, r.train_time_s,
               eta_s);
  std::fflush(out_);
}

}  // namespace parallax
