// Interrupt flag: set from the signal handler (async-signal-safe: a sig_atomic_t and _exit).
#include "distributed/interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <ctime>

#include "config/exit_codes.h"

namespace parallax {
namespace {

volatile std::sig_atomic_t g_signal = 0;
volatile std::sig_atomic_t g_first_s = 0;    // CLOCK_MONOTONIC seconds of the first signal
volatile std::sig_atomic_t g_deferring = 0;  // the training loop runs

void on_interrupt(int sig) {
  if (!g_deferring) {  // setting up: end as the signal's default action would
    ::signal(sig, SIG_DFL);
    ::raise(sig);
    return;
  }
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);  // async-signal-safe
  // Asked again, a second or more later: do not wait for the step to end. A copy arriving at
  // once (the launcher forwarding what Slurm or systemd sent to every process) is the same ask.
  if (g_signal != 0) {
    if (now.tv_sec - g_first_s >= 1) ::_exit(128 + sig);
    return;
  }
  g_first_s = static_cast<std::sig_atomic_t>(now.tv_sec);
  g_signal = sig;
}

const char* volatile g_exit_line = "";
volatile size_t g_exit_line_size = 0;

void exit_on_interrupt(int) {
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, g_exit_line, g_exit_line_size);
  ::_exit(kInterruptedExit);
}

}  // namespace

ExitOnInterrupt::ExitOnInterrupt(const char* line) {
  g_exit_line = line;
  g_exit_line_size = std::strlen(line);
  handlers_.emplace(std::initializer_list<int>{SIGINT, SIGTERM}, exit_on_interrupt);
}

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  ::sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

void defer_interrupts_to_step_end() {
  g_deferring = 1;
}

bool interrupt_requested() {
  return g_signal != 0;
}

}  // namespace parallax
