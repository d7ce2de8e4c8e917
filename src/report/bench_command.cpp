// `parallax bench`: a suite's runs, one `parallax train` child at a time, resumable, then a report.
#include "report/bench_command.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <utility>

#include "config/options.h"
#include "config/user_error.h"
#include "metrics/atomic_file.h"
#include "metrics/results_db.h"
#include "metrics/run_import.h"
#include "metrics/system_info.h"
#include "report/presets.h"
#include "report/report_command.h"
#include "report/suite.h"
#include "train/train_command.h"

extern char** environ;

namespace parallax {
namespace fs = std::filesystem;

CLI::App* add_bench_command(CLI::App& app, BenchOptions& opts) {
  auto* bench = app.add_subcommand(
      "bench",
      "run a suite (a grid of train runs, YAML) into one runs directory, then write its report; "
      "runs already finished there are skipped, so an interrupted suite resumes");
  bench->add_option("suite", opts.suite_file, "suite file (see bench/suites/*.yaml)");
  bench->add_option("--preset", opts.preset, "a shipped suite: " + [] {
    std::string names;
    for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    return names;
  }());
  bench->add_option("--runs", opts.runs_dir, "runs directory (default: runs/<suite name>)");
  bench->add_option("--report-dir", opts.report_dir, "report folder (default: RUNS/report)");
  bench->add_flag("--dry-run", opts.dry_run, "list the runs the suite expands to, run nothing");
  bench->add_flag("!--no-report", opts.report, "do not write the report at the end");
  return bench;
}

SuiteChecks train_suite_checks() {
  SuiteChecks checks;
  CLI::App app;
  Config cfg;
  add_train_options(app, cfg);
  // The train options live in option groups, which CLI11 keeps as unnamed subcommands.
  std::vector<const CLI::App*> apps{&app};
  for (const CLI::App* g : std::as_const(app).get_subcommands([](const CLI::App*) { return true; }))
    apps.push_back(g);
  for (const CLI::App* a : apps)
    for (const CLI::Option* o : a->get_options())
      for (const auto& name : o->get_lnames()) {
        if (name == "help") continue;
        checks.known_options.push_back(name);
        if (o->get_expected_max() == 0) checks.flag_options.push_back(name);
      }
  checks.check_run = [](const std::vector<std::string>& args) {
    CLI::App app;
    Config cfg;
    add_train_options(app, cfg);
    try {
      app.parse(std::vector<std::string>(args.rbegin(), args.rend()));  // CLI11 pops from the back
    } catch (const CLI::ParseError& e) {
      throw UserError(e.what());
    }
    checked_train_config(cfg);
  };
  checks.path_exists = [](const std::string& path) { return fs::exists(path); };
  return checks;
}

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
  if (WIFSIGNALED(status)) why = "killed by signal " + std::to_string(WTERMSIG(status)) + ": " + why;
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
  if (rc != 0) throw std::runtime_error("cannot start parallax train: " + std::string(strerror(rc)));
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
  std::snprintf(buf, sizeof(buf), "%.1f img/s, train %.1f s", num("images_per_sec")
                ? s["images_per_sec"].get<double>() : 0.0,
                num("train_time_s") ? s["train_time_s"].get<double>() : 0.0);
  std::string line = buf;
  if (num("test_accuracy")) {
    std::snprintf(buf, sizeof(buf), ", test acc %.1f%%", 100 * s["test_accuracy"].get<double>());
    line += buf;
  }
  return line;
}

Suite load_bench_suite(const BenchOptions& opts) {
  if (opts.suite_file.empty() == opts.preset.empty())
    throw UserError("bench: give a suite file or --preset NAME (one of them), e.g. " +
                    std::string("parallax bench --preset quick"));
  const SuiteChecks checks = train_suite_checks();
  if (!opts.preset.empty())
    return load_suite(preset_yaml(opts.preset), "bench/suites/" + opts.preset + ".yaml", checks);
  return load_suite_file(opts.suite_file, checks);
}

}  // namespace

int bench_main(const BenchOptions& opts) {
  const Suite suite = load_bench_suite(opts);  // every run is checked before any starts
  const std::string runs = opts.runs_dir.empty() ? "runs/" + suite.name : opts.runs_dir;
  const int n = static_cast<int>(suite.runs.size());
  std::printf("bench: suite %s: %d runs into %s\n", suite.name.c_str(), n, runs.c_str());
  if (opts.dry_run) {
    for (const auto& r : suite.runs) {
      std::string line = "  " + r.name + ":";
      for (const auto& a : r.args) line += " " + a;
      std::printf("%s\n", line.c_str());
    }
    return 0;
  }
  std::error_code ec;
  fs::create_directories(runs, ec);
  if (ec) throw UserError("--runs " + runs + ": cannot create it (" + ec.message() + ")");
  ResultsDb db(results_db_path(runs));
  import_missing_runs(db, runs);  // folders finished before the database knew them count too

  // The child gets Ctrl-C too (same process group); we only stop starting new runs.
  std::signal(SIGINT, [](int) { g_interrupted = 1; });
  std::signal(SIGTERM, [](int) { g_interrupted = 1; });
  int failed = 0, ran = 0;
  double spent = 0;
  for (int i = 0; i < n && !g_interrupted; ++i) {
    const SuiteRun& run = suite.runs[i];
    const std::string dir = runs + "/" + run.name;
    std::printf("[%d/%d] %s: ", i + 1, n, run.name.c_str());
    if (db.has_finished(run.name)) {
      std::printf("finished before, skipped\n");
      continue;
    }
    std::fflush(stdout);
    // A folder without a finished record is what an interrupted or failed attempt left: the
    // suite owns it, and a benchmark is only valid from a clean start, so it is run again.
    fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    if (ec) throw UserError(dir + ": cannot create it (" + ec.message() + ")");
    write_file_atomic(dir + "/suite.json",
                      nlohmann::json{{"suite", suite.name}, {"label", run.label},
                                     {"repeat", run.repeat}, {"note", run.note},
                                     {"options", run.options}}
                              .dump(2) + "\n");
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t started = static_cast<int64_t>(std::time(nullptr));
    const int status = run_train(run.args, dir);
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spent += took;
    ++ran;
    if (g_interrupted) {
      std::printf("interrupted\n");
      break;
    }
    auto record = db.get(run.name);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && record && record->status == "finished") {
      std::printf("%s (%.0f s)", result_line(*record).c_str(), took);
    } else {
      RunRecord r;
      try {
        r = read_run_dir(dir);
      } catch (const UserError&) {  // it failed before writing its config.json
        r.name = run.name;
        r.dir = fs::absolute(dir).string();
        r.suite = suite.name;
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
      db.put(r);
      ++failed;
      std::printf("FAILED: %s", r.error.c_str());
    }
    const int left = n - i - 1;
    if (left > 0) std::printf("; about %s left", clock_text(spent / ran * left).c_str());
    std::printf("\n");
    std::fflush(stdout);
  }
  if (g_interrupted) {
    std::printf("bench: interrupted; run the same command again to resume (finished runs are "
                "kept)\n");
    return 130;
  }
  if (opts.report) {
    const std::string page = write_runs_report(runs, opts.report_dir);
    std::printf("bench: report: %s\n", page.c_str());
  }
  std::printf("bench: %d of %d runs finished%s\n", n - failed, n,
              failed ? "; failed runs are in the report with their reason" : "");
  return failed ? 1 : 0;
}

}  // namespace parallax
