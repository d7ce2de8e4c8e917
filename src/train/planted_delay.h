// A fault planted for tests of the straggler reading (metrics/stragglers.h): with
// PARALLAX_TEST_SLOW_RANK=RANK:MILLISECONDS in the environment, that rank works so much longer
// in every training step, as a slow device or a busy host would make it. Not an option of
// `train`: it exists to test that a slow rank is named, and nothing else.
#pragma once

namespace parallax {

// Seconds this rank's steps are to be slowed by; 0 unless the variable names it. A malformed
// value is a UserError naming it.
double planted_step_delay_s(int rank);

}  // namespace parallax
