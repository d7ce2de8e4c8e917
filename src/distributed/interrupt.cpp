// Interrupt flag: set from the signal handler (async-signal-safe: a sig_atomic_t and _exit).
#include "distributed/interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <csignal>

namespace parallax {
namespace {

volatile std::sig_atomic_t g_signal = 0;

void on_interrupt(int sig) {
  if (g_signal != 0) ::_exit(128 + sig);  // asked twice: do not wait for the step to end
  g_signal = sig;
}

}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  ::sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

bool interrupt_requested() {
  return g_signal != 0;
}

int interrupt_signal() {
  return g_signal;
}

}  // namespace parallax
