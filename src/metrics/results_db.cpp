// ResultsDb: opening the SQLite results database, and writing and reading its runs.
#include "metrics/results_db.h"

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <stdexcept>

#include "metrics/sqlite_util.h"

namespace parallax {
namespace {

using nlohmann::json;
using sqlite::exec_sql;
using sqlite::fail;
using sqlite::Statement;
using sqlite::Transaction;

constexpr int kBusyTimeoutMs = 30000;
constexpr int kRetryMs = 10;

// Switching a file to WAL needs it to itself for a moment, and SQLite does not call the busy
// handler for that: when another process opens the new file at the same instant, wait and retry.
void use_wal(sqlite3* db, const std::string& path) {
  for (int waited_ms = 0;; waited_ms += kRetryMs) {
    const int rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) return;
    const int primary = rc & 0xff;
    if ((primary != SQLITE_BUSY && primary != SQLITE_LOCKED) || waited_ms >= kBusyTimeoutMs)
      fail(db, rc, path, "PRAGMA journal_mode = WAL");
    sqlite3_sleep(kRetryMs);
  }
}

std::string dump(const json& j) {
  // Replace rather than throw on invalid UTF-8 (a hand-written config): the run still gets a row.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json parse_stored(const std::string& text, const std::string& path, const std::string& what) {
  try {
    return text.empty() ? json::object() : json::parse(text);
  } catch (const json::exception& e) {
    throw std::runtime_error(path + ": " + what + " is not JSON: " + e.what());
  }
}

const json* field(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  const auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::optional<double> number(const json& j, const char* key) {
  const json* v = field(j, key);
  return v && v->is_number() ? std::optional<double>(v->get<double>()) : std::nullopt;
}

std::optional<int64_t> integer(const json& j, const char* key) {
  const json* v = field(j, key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->is_number_float() ? static_cast<int64_t>(v->get<double>()) : v->get<int64_t>();
}

std::optional<std::string> text(const json& j, const char* key) {
  const json* v = field(j, key);
  if (v && v->is_string()) return v->get<std::string>();
  // summary.json names the model and dataset as objects: {"name": ..., ...}.
  return v && v->is_object() ? text(*v, "name") : std::nullopt;
}

// A figure the summary states, else what the config asked for (a failed run has no summary).
template <typename T, typename F>
std::optional<T> summary_or_config(const RunRecord& r, const char* key, F get) {
  if (auto v = get(r.summary, key)) return v;
  if (const json* config = field(r.summary, "config"))
    if (auto v = get(*config, key)) return v;
  return get(r.config, key);
}

// The text fields first, in the order of kRunColumns, so that reads and writes loop over them.
template <typename Record>  // RunRecord or const RunRecord
auto text_fields(Record& r) {
  return std::vector<decltype(&r.name)>{&r.name,  &r.dir,  &r.suite, &r.label,       &r.status,
                                        &r.error, &r.note, &r.host,  &r.git_revision};
}
constexpr const char* kRunColumns =
    "name, dir, suite, label, status, error, note, host, git_revision, repeat, started_at, "
    "finished_at, config_json, summary_json";

RunRecord read_run(const Statement& s, const std::string& path) {
  RunRecord r;
  int i = 0;
  for (std::string* text : text_fields(r)) *text = s.column_text(i++);
  r.repeat = static_cast<int>(s.column_int(9));
  r.started_at = s.column_double(10);
  r.finished_at = s.column_double(11);
  r.config = parse_stored(s.column_text(12), path, "run " + r.name + " config_json");
  r.summary = parse_stored(s.column_text(13), path, "run " + r.name + " summary_json");
  return r;
}

EpochRow read_epoch(const Statement& s, int first) {
  EpochRow e;
  e.epoch = static_cast<int>(s.column_int(first));
  e.steps = s.column_int(first + 1);
  double* fields[] = {&e.train_loss,     &e.train_accuracy, &e.test_loss,      &e.test_accuracy,
                      &e.train_time_s,   &e.eval_time_s,    &e.images_per_sec, &e.lr,
                      &e.elapsed_train_s};
  for (int i = 0; i < 9; ++i) *fields[i] = s.column_double_or_nan(first + 2 + i);
  return e;
}

constexpr const char* kEpochColumns =
    "epoch, steps, train_loss, train_accuracy, test_loss, test_accuracy, train_time_s, "
    "eval_time_s, images_per_sec, lr, elapsed_train_s";

}  // namespace

std::string results_db_path(const std::string& runs_dir) {
  return runs_dir + "/results.sqlite";
}

ResultsDb::ResultsDb(const std::string& path) : path_(path) {
  const int rc =
      sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  try {
    if (rc != SQLITE_OK) fail(db_, rc, path_, "open");
    // Waiting is right: the other writer is another process recording its run.
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    check_ours();
    // Only now that the file is ours (or empty) may anything be written to it.
    use_wal(db_, path_);
    exec_sql(db_, path_, "PRAGMA foreign_keys = ON");
    migrate();
  } catch (...) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

ResultsDb::~ResultsDb() {
  sqlite3_close_v2(db_);
}

void ResultsDb::put(const RunRecord& r) {
  if (r.name.empty()) throw std::runtime_error(path_ + ": a run without a name cannot be stored");
  Transaction tx(db_, path_, "BEGIN IMMEDIATE");
  {
    // The run's epochs and ranks go with it (ON DELETE CASCADE).
    Statement del(db_, path_, "DELETE FROM runs WHERE name = ?1");
    del.bind(1, r.name);
    del.run_and_reset();
  }
  {
    Statement ins(db_, path_,
                  (std::string("INSERT INTO runs (") + kRunColumns +
                   ", strategy, model, dataset, world_size, batch_size, images_per_sec, "
                   "train_time_s, test_accuracy) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                   "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)")
                      .c_str());
    int i = 1;
    for (const std::string* text : text_fields(r)) ins.bind(i++, *text);
    ins.bind(i++, static_cast<int64_t>(r.repeat));
    ins.bind(i++, r.started_at);
    ins.bind(i++, r.finished_at);
    ins.bind(i++, dump(r.config));
    ins.bind(i++, dump(r.summary));
    ins.bind(i++, summary_or_config<std::string>(r, "strategy", text));
    ins.bind(i++, summary_or_config<std::string>(r, "model", text));
    ins.bind(i++, summary_or_config<std::string>(r, "dataset", text));
    ins.bind(i++, integer(r.summary, "world_size"));
    ins.bind(i++, summary_or_config<int64_t>(r, "batch_size", integer));
    ins.bind(i++, number(r.summary, "images_per_sec"));
    ins.bind(i++, number(r.summary, "train_time_s"));
    ins.bind(i++, number(r.summary, "test_accuracy"));
    ins.run_and_reset();
  }
  {
    Statement ins(db_, path_,
                  "INSERT OR REPLACE INTO epochs (run_name, epoch, steps, train_loss, "
                  "train_accuracy, test_loss, test_accuracy, train_time_s, eval_time_s, "
                  "images_per_sec, lr, elapsed_train_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                  "?9, ?10, ?11, ?12)");
    for (const EpochRow& e : r.epochs) {
      ins.bind(1, r.name);
      ins.bind(2, static_cast<int64_t>(e.epoch));
      ins.bind(3, e.steps);
      int i = 4;
      for (double v : {e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy, e.train_time_s,
                       e.eval_time_s, e.images_per_sec, e.lr, e.elapsed_train_s})
        ins.bind(i++, v);
      ins.run_and_reset();
    }
  }
  const auto ranks = r.summary.is_object() ? r.summary.find("ranks") : r.summary.end();
  if (ranks != r.summary.end() && ranks->is_array()) {
    Statement ins(db_, path_,
                  "INSERT OR REPLACE INTO ranks (run_name, rank, param_bytes, grad_bytes, "
                  "optimizer_state_bytes, peak_memory_bytes, figures_json) VALUES (?1, ?2, ?3, "
                  "?4, ?5, ?6, ?7)");
    int64_t index = 0;
    for (const json& rank : *ranks) {
      ins.bind(1, r.name);
      ins.bind(2, integer(rank, "rank").value_or(index++));
      ins.bind(3, integer(rank, "param_bytes"));
      ins.bind(4, integer(rank, "grad_bytes"));
      ins.bind(5, integer(rank, "optimizer_state_bytes"));
      ins.bind(6, integer(rank, "peak_memory_bytes"));
      ins.bind(7, dump(rank));
      ins.run_and_reset();
    }
  }
  if (before_commit_) before_commit_();
  tx.commit();
}

std::vector<RunRecord> ResultsDb::select(const std::optional<std::string>& name) const {
  Transaction read(db_, path_, "BEGIN");  // runs and their epochs from one snapshot
  std::map<std::string, std::vector<EpochRow>> epochs;
  {
    Statement s(db_, path_,
                (std::string("SELECT run_name, ") + kEpochColumns +
                 " FROM epochs WHERE ?1 IS NULL OR run_name = ?1 ORDER BY run_name, epoch")
                    .c_str());
    s.bind(1, name);
    while (s.step()) epochs[s.column_text(0)].push_back(read_epoch(s, 1));
  }
  std::vector<RunRecord> runs;
  Statement s(db_, path_,
              (std::string("SELECT ") + kRunColumns +
               " FROM runs WHERE ?1 IS NULL OR name = ?1 ORDER BY started_at, name")
                  .c_str());
  s.bind(1, name);
  while (s.step()) {
    runs.push_back(read_run(s, path_));
    runs.back().epochs = std::move(epochs[runs.back().name]);
  }
  read.commit();
  return runs;
}

std::optional<RunRecord> ResultsDb::get(const std::string& name) const {
  auto runs = select(name);
  if (runs.empty()) return std::nullopt;
  return std::move(runs.front());
}

std::vector<RunRecord> ResultsDb::all() const {
  return select(std::nullopt);
}

bool ResultsDb::has_finished(const std::string& name) const {
  Statement s(db_, path_, "SELECT 1 FROM runs WHERE name = ?1 AND status = 'finished'");
  s.bind(1, name);
  return s.step();
}

}  // namespace parallax
