// Interrupts in a rank. Once training runs, the first SIGINT or SIGTERM asks it to stop after the
// current step (every rank agrees through the step's own collective, so none is left waiting in
// the next one); a second one ends the process at once. While the rank is still setting up
// (rendezvous, run folder, data, model), a signal ends it at once, as with no handler: there is
// no step to finish, and a rank waiting in the store for a peer that failed would otherwise hold
// up its launcher (torchrun sends SIGTERM, then waits 30 s before SIGKILL).
#pragma once
#include <optional>

#include "distributed/signal_scope.h"

namespace parallax {

void install_interrupt_handlers();
// From now on the first signal waits for the step's end (call when the training loop begins).
void defer_interrupts_to_step_end();
bool interrupt_requested();

// While it lives, SIGINT and SIGTERM end this process at once: `line` (with its newline) on
// stderr, exit code 130 (kInterruptedExit). For a command whose work is in this process and whose
// files are written atomically, so that nothing is left half-done (`plan`); the launcher and the
// suite runner handle the signals while they run, and put this back. `line` must outlive it.
class ExitOnInterrupt {
 public:
  explicit ExitOnInterrupt(const char* line);

 private:
  std::optional<ScopedSignalHandlers> handlers_;
};

}  // namespace parallax
