// Run import: a run directory (config.json, summary.json, epochs.csv, suite.json) to a RunRecord.
#include "metrics/run_import.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "config/user_error.h"

namespace parallax {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char kNoSummaryError[] = "no summary.json: the run stopped before it finished";

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

std::string read_whole(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw UserError(p.string() + ": cannot read it; check its permissions");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

json read_json(const fs::path& p) {
  try {
    return json::parse(read_whole(p));
  } catch (const json::exception& e) {
    std::string why = e.what();
    std::replace(why.begin(), why.end(), '\n', ' ');
    throw UserError(p.string() + ": not valid JSON (" + why + "); fix the file or move it away");
  }
}

std::string string_or(const json& j, const char* key, const std::string& fallback) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

double number_or(const json& j, const char* key, double fallback) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

// Unix seconds of the file's last change; config.json is written when a run starts.
double mtime_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return static_cast<double>(st.st_mtim.tv_sec) + st.st_mtim.tv_nsec * 1e-9;
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> cells;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, sep)) cells.push_back(cell);
  if (!line.empty() && line.back() == sep) cells.emplace_back();
  return cells;
}

double parse_number(const std::string& cell, const std::string& where) {
  if (cell.empty()) return 0;
  char* end = nullptr;
  const double v = std::strtod(cell.c_str(), &end);  // also reads "nan" and "inf"
  if (end != cell.c_str() + cell.size())
    throw UserError(where + ": '" + cell + "' is not a number; fix the file or move the run away");
  return v;
}

using EpochSetter = std::function<void(EpochRow&, double)>;

// Columns by header name, so that columns added later (or missing ones, left 0) do not matter.
const std::vector<std::pair<std::string, EpochSetter>>& epoch_columns() {
  static const std::vector<std::pair<std::string, EpochSetter>> columns = {
      {"epoch", [](EpochRow& e, double v) { e.epoch = static_cast<int>(v); }},
      {"steps", [](EpochRow& e, double v) { e.steps = static_cast<int64_t>(v); }},
      {"train_loss", [](EpochRow& e, double v) { e.train_loss = v; }},
      {"train_accuracy", [](EpochRow& e, double v) { e.train_accuracy = v; }},
      {"test_loss", [](EpochRow& e, double v) { e.test_loss = v; }},
      {"test_accuracy", [](EpochRow& e, double v) { e.test_accuracy = v; }},
      {"train_time_s", [](EpochRow& e, double v) { e.train_time_s = v; }},
      {"eval_time_s", [](EpochRow& e, double v) { e.eval_time_s = v; }},
      {"images_per_sec", [](EpochRow& e, double v) { e.images_per_sec = v; }},
      {"lr", [](EpochRow& e, double v) { e.lr = v; }},
      {"elapsed_train_s", [](EpochRow& e, double v) { e.elapsed_train_s = v; }},
  };
  return columns;
}

std::vector<EpochRow> read_epochs_csv(const fs::path& p) {
  std::vector<EpochRow> rows;
  if (!is_file(p)) return rows;  // a run that stopped in its first epoch wrote none
  std::istringstream in(read_whole(p));
  std::string line;
  std::vector<std::string> header;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (header.empty()) {
      header = split(line, ',');
      continue;
    }
    const std::vector<std::string> cells = split(line, ',');
    EpochRow row;
    row.epoch = static_cast<int>(rows.size());  // if the file has no epoch column
    for (const auto& [name, set] : epoch_columns()) {
      const auto at = std::find(header.begin(), header.end(), name);
      const size_t i = static_cast<size_t>(at - header.begin());
      if (at == header.end() || i >= cells.size()) continue;
      set(row, parse_number(cells[i],
                            p.string() + " line " + std::to_string(line_no) + " column " + name));
    }
    rows.push_back(row);
  }
  return rows;
}

// "runs/a/" and "runs/a" both name the folder a.
fs::path normal_dir(const std::string& dir) {
  fs::path p = fs::absolute(dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();
  return p;
}

}  // namespace

RunRecord read_run_dir(const std::string& dir) {
  const fs::path path = normal_dir(dir);
  const fs::path config_path = path / "config.json";
  if (!is_file(config_path))
    throw UserError(dir + ": not a run directory (no config.json); give the folder of a run");
  RunRecord r;
  r.name = path.filename().string();
  r.dir = path.string();
  r.config = read_json(config_path);

  const fs::path suite_path = path / "suite.json";
  if (is_file(suite_path)) {
    const json suite = read_json(suite_path);
    if (!suite.is_object())
      throw UserError(suite_path.string() + ": not a JSON object; fix the file or move it away");
    r.suite = string_or(suite, "suite", "");
    r.label = string_or(suite, "label", "");
    r.repeat = static_cast<int>(number_or(suite, "repeat", 0));
    r.note = string_or(suite, "note", "");
  }

  const fs::path summary_path = path / "summary.json";
  if (is_file(summary_path)) {
    json summary = read_json(summary_path);
    if (!summary.is_object())
      throw UserError(summary_path.string() + ": not a JSON object; fix the file or move it away");
    r.host = string_or(summary, "host", "");
    r.git_revision = string_or(summary, "git_revision", "");
    r.started_at = number_or(summary, "started_at", 0);
    // A trainer that rewrites summary.json after every epoch marks it "running" until the end.
    const std::string status = string_or(summary, "status", "finished");
    if (status == "diverged" || status == "interrupted") {
      // It stopped early on purpose, and said why: its figures so far are worth keeping.
      r.status = status;
      r.error = string_or(summary, "stop_reason", status);
      r.finished_at = number_or(summary, "finished_at", 0);
      r.summary = std::move(summary);
    } else if (status == "finished") {
      r.status = "finished";
      r.finished_at = number_or(summary, "finished_at", 0);
      const double train_time_s = number_or(summary, "train_time_s", 0);
      if (r.started_at <= 0 && r.finished_at > 0) r.started_at = r.finished_at - train_time_s;
      r.summary = std::move(summary);
    } else {
      r.status = "failed";
      r.error = "summary.json says \"" + status +
                "\": the run stopped before it finished, or is still running";
    }
  } else {
    r.status = "failed";
    r.error = kNoSummaryError;
  }
  // Something to sort by for a run that stopped early: when it wrote its config.
  if (r.started_at <= 0) r.started_at = mtime_of(config_path);
  r.epochs = read_epochs_csv(path / "epochs.csv");
  return r;
}

std::vector<std::string> import_missing_runs(ResultsDb& db, const std::string& runs_dir) {
  std::error_code ec;
  if (!fs::is_directory(runs_dir, ec))
    throw UserError(runs_dir + ": no such runs folder; give the folder that holds the runs");
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(runs_dir, ec)) {
    const std::string name = entry.path().filename().string();
    // Hidden folders are work in progress (temporary copies), not runs.
    std::error_code entry_ec;  // a broken link is skipped, not an error
    if (name.empty() || name[0] == '.' || !entry.is_directory(entry_ec)) continue;
    if (is_file(entry.path() / "config.json")) dirs.push_back(entry.path());
  }
  if (ec) throw UserError(runs_dir + ": cannot list it (" + ec.message() + "); check permissions");
  std::sort(dirs.begin(), dirs.end());

  std::vector<std::string> imported;
  for (const fs::path& dir : dirs) {
    const std::string name = dir.filename().string();
    if (db.has_finished(name)) continue;
    const bool known = db.get(name).has_value();
    // A known unfinished run is read again only once it may have finished.
    if (known && !is_file(dir / "summary.json")) continue;
    RunRecord r = read_run_dir(dir.string());
    if (known && r.status != "finished") continue;
    db.put(r);
    imported.push_back(name);
  }
  return imported;
}

}  // namespace parallax
