// Signal handlers for a scope: installed when it begins, and the dispositions found there put
// back when it ends, however it ends. A caller that goes on working keeps its own: `plan` runs
// its profiling ranks under the launcher, then its checks under the suite runner, then writes
// its files, all in one process.
#pragma once
#include <signal.h>

#include <initializer_list>
#include <utility>
#include <vector>

namespace parallax {

class ScopedSignalHandlers {
 public:
  // flags: sigaction's (SA_RESTART: a system call the signal interrupts goes on).
  ScopedSignalHandlers(std::initializer_list<int> signals, void (*handler)(int), int flags = 0) {
    struct sigaction sa {};
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    ::sigemptyset(&sa.sa_mask);
    for (int sig : signals) {
      struct sigaction before {};
      ::sigaction(sig, &sa, &before);
      saved_.emplace_back(sig, before);
    }
  }
  ~ScopedSignalHandlers() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it)
      ::sigaction(it->first, &it->second, nullptr);
  }
  ScopedSignalHandlers(const ScopedSignalHandlers&) = delete;
  ScopedSignalHandlers& operator=(const ScopedSignalHandlers&) = delete;

 private:
  std::vector<std::pair<int, struct sigaction>> saved_;
};

}  // namespace parallax
