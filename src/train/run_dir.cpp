// Run folders: naming, preparing, and recording them in the results database.
#include "train/run_dir.h"

#include <torch/torch.h>

#include <cctype>
#include <ctime>
#include <functional>

#include "config/user_error.h"
#include "distributed/collectives.h"
#include "distributed/dist_context.h"
#include "metrics/results_db.h"
#include "metrics/run_import.h"
#include "train/checkpoint.h"

namespace parallax {
namespace fs = std::filesystem;

std::string choose_run_dir(const Config& cfg) {
  if (!cfg.out.empty()) return cfg.out;
  if (!cfg.resume.empty()) return cfg.resume;
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", std::localtime(&now));
  return "runs/" + std::string(stamp) + "-" + cfg.strategy + "-" + cfg.model;
}

namespace {

// <time>-<strategy>-<model> as choose_run_dir names it: "20261207-143005-ddp-resnet50".
bool default_run_name(const std::string& name, const Config& cfg) {
  const std::string tail = "-" + cfg.strategy + "-" + cfg.model;
  if (name.size() != 15 + tail.size() || name.compare(15, std::string::npos, tail) != 0)
    return false;
  for (size_t i = 0; i < 15; ++i)
    if (i == 8 ? name[i] != '-' : !std::isdigit(static_cast<unsigned char>(name[i]))) return false;
  return true;
}

}  // namespace

std::string published_run_dir_problem(const std::string& published, const Config& cfg) {
  const fs::path p(published);
  for (const auto& part : p)
    if (part == "..") return "names a parent folder (..)";
  if (!cfg.out.empty() || !cfg.resume.empty()) {
    const std::string own = choose_run_dir(cfg);
    if (p.lexically_normal() == fs::path(own).lexically_normal()) return "";
    return std::string("is not this rank's ") + (cfg.out.empty() ? "--resume " : "--out ") + own;
  }
  if (p.parent_path() != "runs" || !default_run_name(p.filename().string(), cfg))
    return "is not a runs/<time>-" + cfg.strategy + "-" + cfg.model + " folder, as this rank " +
           "without --out would name it";
  return "";
}

std::string shared_run_dir(const DistContext& ctx, const Config& cfg, const std::string& chosen) {
  // A vector<uint8_t> by name: a braced pair of iterators is ambiguous in LibTorch 2.x's
  // Store::set overloads (vector<uint8_t> and string_view).
  if (ctx.is_root())
    ctx.store->set("parallax/run_dir", std::vector<uint8_t>(chosen.begin(), chosen.end()));
  const auto bytes = ctx.store->get("parallax/run_dir");
  const std::string published(bytes.begin(), bytes.end());
  const std::string problem = ctx.is_root() ? "" : published_run_dir_problem(published, cfg);
  // Summed over ranks: refusals, and three 13-bit pieces of the name's hash with their squares.
  // All ranks read one name exactly when world x sum(h^2) = sum(h)^2 for each piece (no spread),
  // and doubles hold these sums exactly up to 4096 ranks.
  const size_t h = std::hash<std::string>{}(published);
  std::vector<double> parts{problem.empty() ? 0.0 : 1.0};
  for (int k = 0; k < 3; ++k) parts.push_back(static_cast<double>((h >> (13 * k)) & 0x1fff));
  for (int k = 1; k <= 3; ++k) parts.push_back(parts[k] * parts[k]);
  const auto sums =
      HostSum(ctx.world_pg, torch::tensor(parts, torch::kDouble), ctx.device, "run folder check")
          .host();
  const double* v = sums.data_ptr<double>();
  const double w = ctx.world;
  bool same = true;
  for (int k = 1; k <= 3; ++k) same = same && w * v[k + 3] == v[k] * v[k];
  const std::string rank = "rank " + std::to_string(ctx.rank) + ": ";
  if (!problem.empty())
    throw UserError(rank + "the run folder " + published + " that rank 0 named through the " +
                    "store " + problem + "; start every rank with the same --out (and keep " +
                    "--master-addr's port on a private network)");
  if (v[0] > 0 || !same)
    throw UserError(rank + "another rank refused the run folder " + published + " that rank 0 " +
                    "named through the store (see its line); start every rank with the same --out");
  return published;
}

namespace {

// Temporary files of atomic writes (NAME.tmp.PID) that a kill left behind.
void remove_stale_temp_files(const std::string& run_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) fs::remove(entry.path(), ec);
  }
}

}  // namespace

void prepare_run_dir(const std::string& dir, bool resuming) {
  if (!resuming && has_checkpoint(dir))
    throw UserError("--out " + dir + ": already holds a run; continue it with --resume " + dir +
                    " or choose another --out");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw UserError("--out " + dir + ": cannot create it (" + ec.message() + ")");
  remove_stale_temp_files(dir);
}

fs::path run_folder(const std::string& run_dir) {
  fs::path dir = fs::absolute(run_dir).lexically_normal();
  return dir.has_filename() ? dir : dir.parent_path();
}

// The run folder is already complete, so a database that cannot take the row (foreign, corrupt,
// read-only) costs a warning, not the run.
void record_run(const std::string& run_dir, bool verbose) {
  try {
    ResultsDb db(results_db_path(run_folder(run_dir).parent_path().string()));
    db.put(read_run_dir(run_dir));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parallax: warning: run not recorded in the results database: %s\n",
                 e.what());
  }
}

void record_run_if_missing(const std::string& run_dir, bool verbose) {
  const fs::path dir = run_folder(run_dir);
  try {
    ResultsDb db(results_db_path(dir.parent_path().string()));
    if (db.has_finished(dir.filename().string())) return;
  } catch (const std::exception&) {
    // record_run() says what is wrong with the database, once.
  }
  record_run(run_dir, verbose);
}

}  // namespace parallax
