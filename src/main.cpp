// parallax's subcommands (train, bench, plan, report, export, sample, data); the library works.
#include <c10/util/Exception.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <utility>

#include "config/options.h"
#include "config/user_error.h"
#include "data/data_command.h"
#include "plan/plan_command.h"
#include "suite/bench_command.h"
#include "report/report_command.h"
#include "train/checkpoint.h"
#include "train/export_command.h"
#include "config/exit_codes.h"
#include "train/run_stop.h"
#include "train/sample_command.h"
#include "train/train_command.h"

namespace {

int fail(const char* kind, const char* what, int exit_code) {  // one line on stderr
  std::fprintf(stderr, "parallax: %s%s\n", kind, what);
  return exit_code;
}

int run(int argc, char** argv) {
  CLI::App app{"parallax: train a network under a parallelism strategy and measure what the "
               "strategy does to throughput, scaling and time to converge"};
  app.require_subcommand(1);
  app.set_version_flag("--version", PARALLAX_VERSION);
  parallax::Config cfg;
  auto* train = app.add_subcommand("train", "train one run; writes summary.json, steps.csv, "
                                            "epochs.csv and a checkpoint into the run directory");
  parallax::add_train_options(*train, cfg);
  parallax::BenchOptions bench_opts;
  bench_opts.write_report = parallax::write_runs_report;
  auto* bench = parallax::add_bench_command(app, bench_opts);
  parallax::PlanOptions plan_opts;
  plan_opts.write_report = parallax::write_runs_report;
  auto* plan = parallax::add_plan_command(app, plan_opts);
  parallax::ReportCommandOptions report_opts;
  auto* report = parallax::add_report_command(app, report_opts);
  parallax::ExportOptions export_opts;
  auto* export_cmd = parallax::add_export_command(app, export_opts);
  parallax::SampleOptions sample_opts;
  auto* sample = parallax::add_sample_command(app, sample_opts);
  parallax::DataOptions data_opts;
  auto* data = parallax::add_data_command(app, data_opts);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    const std::string first = argc > 1 ? argv[1] : "";
    std::string msg = std::string(e.what()) + " (see parallax --help)";
    const auto named = [&](const CLI::App* c) { return c->get_name() == first; };
    if (!first.empty() && first[0] != '-' && std::as_const(app).get_subcommands(named).empty())
      msg = "unknown command '" + first + "'; use train, bench, plan, report, export, sample, data";
    return fail("error: ", msg.c_str(), parallax::kUserErrorExit);
  }

  if (*train) {
    return parallax::train_main(parallax::resumed_run_config(*train, cfg), argc, argv);
  } else if (*bench) {
    return parallax::bench_main(bench_opts);
  } else if (*plan) {
    return parallax::plan_main(plan_opts, argc, argv);
  } else if (*report) {
    std::printf("parallax: wrote %s\n",
                parallax::write_runs_report(report_opts.runs_dir, report_opts.out_dir).c_str());
  } else if (*export_cmd) {
    const size_t n = parallax::export_main(export_opts);
    std::printf("parallax: wrote %s (%zu tensors)\n", export_opts.out.c_str(), n);
  } else if (*sample) {
    parallax::sample_main(sample_opts);
  } else if (*data) {
    parallax::data_main(data_opts);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const parallax::UserError& e) {
    return fail("error: ", e.what(), parallax::kUserErrorExit);
  } catch (const parallax::Diverged& e) {
    return fail("error: ", e.what(), parallax::kDivergedExit);
  } catch (const parallax::Interrupted& e) {
    return fail("", e.what(), parallax::kInterruptedExit);
  } catch (const c10::Error& e) {
    return fail("internal error: ", e.what_without_backtrace(), parallax::kInternalErrorExit);
  } catch (const std::exception& e) {
    return fail("internal error: ", e.what(), parallax::kInternalErrorExit);
  }
}
