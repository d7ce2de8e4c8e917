// The suite runner: a list of runs, one `parallax train` child at a time, into one runs directory
// and its results database; resumable (finished runs are skipped), failures recorded with reason.
#include "suite/suite_runner.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "config/user_error.h"
#include "distributed/signal_scope.h"
#include "metrics/atomic_file.h"
#include "metrics/results_db.h"
#include "metrics/run_import.h"
#include "metrics/system_info.h"

extern char** environ;

namespace parallax {
namespace fs = std::filesystem;

namespace {

volatile std::sig_atomic_t g_interrupted = 0;

// The first line of the run's log that says what went wrong (ranks print "error: ..." lines).
std::string failure_reason(const std::string& log_path, int status) {
  std::ifstream in(log_path);
  std::string line, last, error;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    last = line;
    // The first error is the cause; later ones are the launcher stopping the other ranks.
    if (error.empty() && line.find("error:") != std::string::npos) error = line;
  }
  std::string why = !error.empty() ? error : !last.empty() ? last : "no output";
  if (WIFSIGNALED(status))
    why = "killed by signal " + std::to_string(WTERMSIG(status)) + ": " + why;
  return why + " (log: " + log_path + ")";
}

// Runs `parallax train ARGS --out DIR` with its output in DIR/train.log; returns its wait status.
int run_train(const std::vector<std::string>& args, const std::string& dir) {
  std::vector<std::string> argv{fs::read_symlink("/proc/self/exe").string(), "train"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--out", dir});
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string log = dir + "/train.log";
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    throw std::runtime_error("cannot start parallax train: " + std::string(strerror(rc)));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string clock_text(double seconds) {
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", s / 3600, s / 60 % 60);
  else
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", s / 60, s % 60);
  return buf;
}

// One line of what a finished run measured.
std::string result_line(const RunRecord& r) {
  const auto& s = r.summary;
  auto num = [&](const char* key) { return s.contains(key) && s[key].is_number(); };
  char buf[160];
  std::snprintf(buf, sizeof(buf), "%.1f img/s, train %.1f s",
                num("images_per_sec") ? s["images_per_sec"].get<double>() : 0.0,
                num("train_time_s") ? s["train_time_s"].get<double>() : 0.0);
  std::string line = buf;
  const auto& lm = s.contains("language_model") ? s["language_model"] : nlohmann::json();
  if (lm.is_object() && lm.contains("validation_loss") && lm["validation_loss"].is_number()) {
    std::snprintf(buf, sizeof(buf), ", %.0f tokens/s, validation loss %.3f",
                  num("tokens_per_sec") ? s["tokens_per_sec"].get<double>() : 0.0,
                  lm["validation_loss"].get<double>());
    line += buf;
  } else if (num("test_accuracy")) {
    std::snprintf(buf, sizeof(buf), ", test acc %.1f%%", 100 * s["test_accuracy"].get<double>());
    line += buf;
  }
  return line;
}

void note_interrupt(int) {
  g_interrupted = 1;
}

// A folder without a finished record is what an interrupted or failed attempt left: the suite
// owns it, and a benchmark is only valid from a clean start, so it is made again, empty but for
// the run's suite.json.
void make_fresh_run_dir(const std::string& dir, const std::string& suite_name,
                        const SuiteRun& run) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) throw UserError(dir + ": cannot create it (" + ec.message() + ")");
  write_file_atomic(dir + "/suite.json", nlohmann::json{{"suite", suite_name},
                                                        {"label", run.label},
                                                        {"repeat", run.repeat},
                                                        {"note", run.note},
                                                        {"options", run.options}}
                                                 .dump(2) +
                                             "\n");
}

// The record of a failed run: what its folder holds, with the reason from its log.
RunRecord failed_run_record(const std::string& suite_name, const SuiteRun& run,
                            const std::string& dir, int status, int64_t started) {
  RunRecord r;
  try {
    r = read_run_dir(dir);
  } catch (const UserError&) {  // it failed before writing its config.json
    r.name = run.name;
    r.dir = fs::absolute(dir).string();
    r.suite = suite_name;
    r.label = run.label;
    r.repeat = run.repeat;
    r.note = run.note;
  }
  r.status = "failed";
  r.error = failure_reason(dir + "/train.log", status);
  r.host = host_name();
  r.git_revision = git_revision();
  r.started_at = static_cast<double>(started);
  r.finished_at = static_cast<double>(std::time(nullptr));
  if (r.config.empty()) r.config = run.options;
  return r;
}

}  // namespace

SuiteRunResult run_suite(const std::string& suite_name, const std::vector<SuiteRun>& list,
                         const std::string& runs, const AroundRun& around) {
  const int n = static_cast<int>(list.size());
  std::error_code ec;
  fs::create_directories(runs, ec);
  if (ec) throw UserError("--runs " + runs + ": cannot create it (" + ec.message() + ")");
  ResultsDb db(results_db_path(runs));
  import_missing_runs(db, runs);  // folders finished before the database knew them count too
  // The child gets Ctrl-C too (same process group); the suite only stops starting new runs. The
  // handlers found are back when it returns (`plan` goes on after its checks).
  g_interrupted = 0;
  const ScopedSignalHandlers handlers({SIGINT, SIGTERM}, note_interrupt, SA_RESTART);
  int failed = 0, ran = 0, completed = 0;
  double spent = 0;
  for (int i = 0; i < n && !g_interrupted; ++i) {
    const SuiteRun& run = list[i];
    const std::string dir = runs + "/" + run.name;
    std::printf("[%d/%d] %s: ", i + 1, n, run.name.c_str());
    if (db.has_finished(run.name)) {
      std::printf("finished before, skipped\n");
      ++completed;
      continue;
    }
    std::fflush(stdout);
    make_fresh_run_dir(dir, suite_name, run);
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t started = static_cast<int64_t>(std::time(nullptr));
    if (around) around(static_cast<size_t>(i), true);
    if (g_interrupted) {  // during the work around it: the run is not started
      std::printf("stopped before it started\n");
      break;
    }
    const int status = run_train(run.args, dir);
    if (around && !g_interrupted) around(static_cast<size_t>(i), false);
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spent += took;
    ++ran;
    if (g_interrupted) {  // the caller says so, once: here only what became of this run
      std::printf("stopped\n");
      break;
    }
    ++completed;
    auto record = db.get(run.name);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && record && record->status == "finished") {
      std::printf("%s (%.0f s)", result_line(*record).c_str(), took);
    } else {
      const RunRecord r = failed_run_record(suite_name, run, dir, status, started);
      db.put(r);
      ++failed;
      std::printf("FAILED: %s", r.error.c_str());
    }
    const int left = n - i - 1;
    if (left > 0) std::printf("; about %s left", clock_text(spent / ran * left).c_str());
    std::printf("\n");
    std::fflush(stdout);
  }
  SuiteRunResult result;
  result.ran = n;
  result.failed = failed;
  result.completed = completed;
  result.interrupted = g_interrupted != 0;
  return result;
}

}  // namespace parallax
