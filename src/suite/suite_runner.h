// The suite runner: runs a list of suite runs, one `parallax train` child process at a time, into
// one runs directory and its results database (RUNS/results.sqlite). Runs already finished there
// are skipped, so an interrupted list resumes; a failed run is recorded with its reason and the
// list goes on. `bench` and `plan --check` both run through it.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "suite/suite.h"

namespace parallax {

struct SuiteRunResult {
  int ran = 0;     // runs in the list
  int failed = 0;  // of those, failed (recorded with their reason)
  // The runs, from the first, that came to an end: finished, failed, or found finished before.
  // When interrupted, the one after them was stopped (or not started), and the rest not started.
  int completed = 0;
  bool interrupted = false;  // Ctrl-C or SIGTERM: the rest were not started
};

// Called just before (before = true) and just after each run that is started (not for those
// skipped as finished), with the run's index.
using AroundRun = std::function<void(size_t index, bool before)>;

// Prints one progress line per run ("[i/n] NAME: 212.3 img/s, train 41.0 s (43 s); about 3m left").
// Handles SIGINT and SIGTERM while it runs (it stops after the run they interrupt) and puts back
// the handlers it found when it returns.
SuiteRunResult run_suite(const std::string& suite_name, const std::vector<SuiteRun>& runs,
                         const std::string& runs_dir, const AroundRun& around = {});

}  // namespace parallax
