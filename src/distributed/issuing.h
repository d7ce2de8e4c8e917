// The purpose of the collective being issued, held for the length of one call of the collectives
// layer (collectives.h's issuing_purpose() reads it). Only that layer's sources include this.
#pragma once

namespace parallax {

class Issuing {
 public:
  explicit Issuing(const char* purpose);
  ~Issuing();
  Issuing(const Issuing&) = delete;
  Issuing& operator=(const Issuing&) = delete;

 private:
  const char* outer_;
};

}  // namespace parallax
