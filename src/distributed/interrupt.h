// Interrupts in a rank: the first SIGINT or SIGTERM asks training to stop after the current step
// (every rank agrees through the step's own collective, so none is left waiting in the next one);
// a second one ends the process at once.
#pragma once

namespace parallax {

void install_interrupt_handlers();
bool interrupt_requested();

}  // namespace parallax
