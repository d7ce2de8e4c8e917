// `plan --check K|all`: the top K predictions plus a spread of the others, run for real through
// the suite runner into the plan's folder, each row then carrying what it measured.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "plan/plan_table.h"

namespace CLI {
class App;
}

namespace parallax {

// The rows (indices into ranked `rows`) that --check runs: "all" (every row that fits), or the
// top K and about as many more spread evenly over the rest. UserError for a bad K.
std::vector<size_t> rows_to_check(const std::vector<PlanRow>& rows, const std::string& check);

// The workload's own train options as the user gave them to `plan` (argv after the subcommand),
// without plan's options and without those each candidate sets itself.
std::vector<std::string> workload_args(const CLI::App& plan, int argc, char** argv);

// Runs the chosen rows (`extra`: the workload's arguments, then each run's own) `rounds` times,
// round after round, with `steps` timed steps after 3 untimed, into `runs_dir`, and fills their
// measured fields: the best round's median step time, the largest peak. Returns false if
// interrupted: then only the rows whose runs came to an end are checked (those of the run it
// stopped and of the runs never started are not).
//
// `reference` (if given) times the machine's reference probe; it runs just before and just
// after every run, and the faster of the two over `reference_at_profile` is that run's drift: how
// much slower the shared machine ran then than when it was profiled.
bool run_checks(std::vector<PlanRow>& rows, const std::vector<size_t>& which,
                const std::vector<std::string>& extra, int steps, int rounds,
                const std::string& runs_dir, const std::function<double()>& reference = {},
                double reference_at_profile = 0);

}  // namespace parallax
