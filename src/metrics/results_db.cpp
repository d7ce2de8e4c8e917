// ResultsDb: schema, migrations and refusals of the SQLite results database, via the SQLite C API.
#include "metrics/results_db.h"

#include <sqlite3.h>

#include <limits>
#include <map>
#include <stdexcept>

#include "config/user_error.h"

namespace parallax {
namespace {

using nlohmann::json;

// migrations[i] takes user_version i to i + 1; version 0 is a new, empty file. Append only: a file
// written by an older build is brought up to date by running the scripts it has not seen.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE runs (
  name TEXT PRIMARY KEY NOT NULL, dir TEXT NOT NULL, suite TEXT NOT NULL, label TEXT NOT NULL,
  repeat INTEGER NOT NULL, status TEXT NOT NULL, error TEXT NOT NULL, note TEXT NOT NULL,
  host TEXT NOT NULL, git_revision TEXT NOT NULL, started_at REAL, finished_at REAL,
  config_json TEXT NOT NULL, summary_json TEXT NOT NULL,
  -- Copies of summary (or config) figures, so that people can query with plain sqlite3.
  strategy TEXT, model TEXT, dataset TEXT, world_size INTEGER, batch_size INTEGER,
  images_per_sec REAL, train_time_s REAL, test_accuracy REAL);
CREATE INDEX runs_by_start ON runs (started_at, name);
CREATE INDEX runs_by_label ON runs (suite, label, repeat);
CREATE TABLE epochs (
  run_name TEXT NOT NULL REFERENCES runs (name) ON DELETE CASCADE,
  epoch INTEGER NOT NULL, steps INTEGER NOT NULL, train_loss REAL, train_accuracy REAL,
  test_loss REAL, test_accuracy REAL, train_time_s REAL, eval_time_s REAL, images_per_sec REAL,
  lr REAL, elapsed_train_s REAL,
  PRIMARY KEY (run_name, epoch)) WITHOUT ROWID;
CREATE TABLE ranks (
  run_name TEXT NOT NULL REFERENCES runs (name) ON DELETE CASCADE,
  rank INTEGER NOT NULL, param_bytes INTEGER, grad_bytes INTEGER, optimizer_state_bytes INTEGER,
  peak_memory_bytes INTEGER, figures_json TEXT NOT NULL,
  PRIMARY KEY (run_name, rank)) WITHOUT ROWID;
)sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == ResultsDb::kSchemaVersion,
              "one migration per schema version");

constexpr int kBusyTimeoutMs = 30000;
constexpr int kRetryMs = 10;

std::string not_ours_message(const std::string& path) {
  return path +
         ": not a parallax results database (not SQLite, or corrupt); move it away and run "
         "again; parallax will not overwrite it";
}

// Turns an SQLite failure into the exception the caller should see: a file that is not ours or
// that cannot be written is the user's to fix, anything else is ours.
[[noreturn]] void fail(sqlite3* db, int rc, const std::string& path, const std::string& what) {
  const std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      throw UserError(not_ours_message(path));
    case SQLITE_CANTOPEN:
      throw UserError(path + ": cannot open the results database (" + detail +
                      "); check that its folder exists and is writable");
    case SQLITE_READONLY:
    case SQLITE_PERM:
      throw UserError(path + ": the results database is read-only (" + detail +
                      "); make it and its folder writable");
    case SQLITE_FULL:
      throw UserError(path + ": the disk is full; free some space and run again");
    default:
      throw std::runtime_error(path + ": " + what + ": " + detail);
  }
}

void exec_sql(sqlite3* db, const std::string& path, const std::string& sql) {
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) fail(db, rc, path, sql.substr(0, sql.find_first_of("(\n")));
}

// A prepared statement; values are bound as parameters, never pasted into SQL text.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& path, const char* sql) : db_(db), path_(path) {
    const int rc = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
    if (rc != SQLITE_OK) fail(db_, rc, path_, sql);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void bind(int i, const std::string& s) {
    check(sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT));
  }
  // NaN (a diverged loss) is stored as NULL by SQLite; column_double_or_nan reads it back.
  void bind(int i, double v) { check(sqlite3_bind_double(stmt_, i, v)); }
  void bind(int i, int64_t v) { check(sqlite3_bind_int64(stmt_, i, v)); }
  void bind(int i, const std::optional<std::string>& v) { v ? bind(i, *v) : bind_null(i); }
  void bind(int i, const std::optional<double>& v) { v ? bind(i, *v) : bind_null(i); }
  void bind(int i, const std::optional<int64_t>& v) { v ? bind(i, *v) : bind_null(i); }
  void bind_null(int i) { check(sqlite3_bind_null(stmt_, i)); }

  // Steps once: true while there is a row to read.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, rc, path_, sqlite3_sql(stmt_));
  }
  void run_and_reset() {
    while (step()) {
    }
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  bool is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
  int64_t column_int(int i) const { return sqlite3_column_int64(stmt_, i); }
  double column_double(int i) const { return sqlite3_column_double(stmt_, i); }
  double column_double_or_nan(int i) const {
    return is_null(i) ? std::numeric_limits<double>::quiet_NaN() : column_double(i);
  }
  std::string column_text(int i) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
    return text ? std::string(text, sqlite3_column_bytes(stmt_, i)) : std::string();
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) fail(db_, rc, path_, "bind");
  }
  sqlite3* db_;
  const std::string& path_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN ... COMMIT; an exception before commit() rolls back, so no half-written run survives.
class Transaction {
 public:
  Transaction(sqlite3* db, const std::string& path, const char* begin) : db_(db), path_(path) {
    exec_sql(db_, path_, begin);
  }
  ~Transaction() {
    if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    exec_sql(db_, path_, "COMMIT");
    open_ = false;
  }

 private:
  sqlite3* db_;
  const std::string& path_;
  bool open_ = true;
};

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

int64_t query_int(sqlite3* db, const std::string& path, const char* sql) {
  Statement s(db, path, sql);
  return s.step() ? s.column_int(0) : 0;
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

void ResultsDb::check_ours() {
  int64_t app = 0, version = 0, objects = 0;
  {
    // One read snapshot, so that a process creating the file meanwhile is seen whole or not at all.
    Transaction read(db_, path_, "BEGIN");
    app = query_int(db_, path_, "PRAGMA application_id");
    version = query_int(db_, path_, "PRAGMA user_version");
    objects = query_int(db_, path_, "SELECT count(*) FROM sqlite_master");
    read.commit();
  }
  if (app == kApplicationId) {
    if (version > kSchemaVersion)
      throw UserError(path_ + ": schema version " + std::to_string(version) +
                      " is newer than this parallax (" + std::to_string(kSchemaVersion) +
                      "); use a newer parallax");
  } else if (app != 0) {
    throw UserError(path_ + ": an SQLite database of another program (application_id " +
                    std::to_string(app) + "); move it away and run again; parallax will not " +
                    "overwrite it");
  } else if (objects > 0 || version != 0) {
    // Our first migration sets application_id in the transaction that creates the tables, so a
    // file without it that holds anything is not ours.
    throw UserError(path_ + ": an SQLite database of another program (it has tables but no " +
                    "parallax application_id); move it away and run again; parallax will not " +
                    "overwrite it");
  }
  if (sqlite3_db_readonly(db_, "main") == 1)
    throw UserError(path_ + ": the results database is read-only; make it and its folder writable");
}

void ResultsDb::migrate() {
  if (query_int(db_, path_, "PRAGMA user_version") >= kSchemaVersion) return;
  for (;;) {
    // IMMEDIATE takes the write lock first: two processes creating the file at once migrate it
    // one after the other, and the second finds the version already raised.
    Transaction tx(db_, path_, "BEGIN IMMEDIATE");
    const int64_t version = query_int(db_, path_, "PRAGMA user_version");
    if (version >= kSchemaVersion) {
      tx.commit();
      return;
    }
    if (version == 0)
      exec_sql(db_, path_, "PRAGMA application_id = " + std::to_string(kApplicationId));
    exec_sql(db_, path_, kMigrations[version]);
    exec_sql(db_, path_, "PRAGMA user_version = " + std::to_string(version + 1));
    tx.commit();
  }
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
