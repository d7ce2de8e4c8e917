// TensorBoard event files: scalars as tensorboard.Event records (protobuf) in TFRecord framing.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

namespace parallax {

class TensorboardWriter {
 public:
  // Creates dir (and its parents) and a new events.out.tfevents.<time>.<host>.<pid> file in it,
  // opening with the file_version record TensorBoard expects. UserError if it cannot.
  explicit TensorboardWriter(const std::string& dir);
  ~TensorboardWriter();
  TensorboardWriter(const TensorboardWriter&) = delete;
  TensorboardWriter& operator=(const TensorboardWriter&) = delete;

  void scalar(const std::string& tag, double value, int64_t step);
  // Hands what was written to the OS, so a TensorBoard watching the folder sees it now.
  void flush();
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& bytes);
  std::string path_;
  std::FILE* file_ = nullptr;
  bool warned_ = false;  // a write failed (disk full): said once, training goes on
};

}  // namespace parallax
