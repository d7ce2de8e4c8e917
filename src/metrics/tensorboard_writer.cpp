// TensorBoard writer: each record is length, masked CRC32C of the length, the serialized Event,
// and its masked CRC32C (TFRecord framing, which TensorBoard's reader checks).
#include "metrics/tensorboard_writer.h"

#include <unistd.h>

#include <boost/crc.hpp>

#include <chrono>
#include <cstring>
#include <filesystem>

#include "config/user_error.h"
#include "metrics/tensorboard_event.pb.h"

namespace parallax {
namespace {

// TFRecord's CRC: CRC-32C (Castagnoli), rotated and offset ("masked") so that a CRC of data that
// itself holds CRCs stays well distributed.
uint32_t masked_crc32c(const void* data, size_t n) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data, n);
  const uint32_t c = crc.checksum();
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char name[256] = {};
  ::gethostname(name, sizeof(name) - 1);
  return name;
}

}  // namespace

TensorboardWriter::TensorboardWriter(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  path_ = dir + "/events.out.tfevents." + std::to_string(static_cast<int64_t>(now_s())) + "." +
          host_name() + "." + std::to_string(::getpid());
  file_ = ec ? nullptr : std::fopen(path_.c_str(), "wb");
  if (file_ == nullptr)
    throw UserError("--tensorboard " + dir + ": cannot write event files there (" +
                    (ec ? ec.message() : std::string(std::strerror(errno))) +
                    "); give a writable folder");
  tensorboard::Event first;
  first.set_wall_time(now_s());
  first.set_file_version("brain.Event:2");
  write_record(first.SerializeAsString());
  flush();
}

TensorboardWriter::~TensorboardWriter() {
  if (file_) std::fclose(file_);
}

void TensorboardWriter::scalar(const std::string& tag, double value, int64_t step) {
  tensorboard::Event event;
  event.set_wall_time(now_s());
  event.set_step(step);
  auto* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  write_record(event.SerializeAsString());
}

void TensorboardWriter::flush() {
  if ((std::fflush(file_) == 0 && !std::ferror(file_)) || warned_) return;
  warned_ = true;  // the event file is a log beside the run: losing it must not stop training
  std::fprintf(stderr, "parallax: warning: writing %s failed (%s); TensorBoard's view stops here\n",
               path_.c_str(), std::strerror(errno));
}

void TensorboardWriter::write_record(const std::string& bytes) {
  const uint64_t length = bytes.size();  // little-endian on every machine parallax builds for
  const uint32_t length_crc = masked_crc32c(&length, sizeof(length));
  const uint32_t data_crc = masked_crc32c(bytes.data(), bytes.size());
  std::fwrite(&length, sizeof(length), 1, file_);
  std::fwrite(&length_crc, sizeof(length_crc), 1, file_);
  std::fwrite(bytes.data(), 1, bytes.size(), file_);
  std::fwrite(&data_crc, sizeof(data_crc), 1, file_);
}

}  // namespace parallax
