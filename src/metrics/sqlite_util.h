// SQLite C API helpers of the results database: failures as exceptions, statements, transactions.
#pragma once
#include <sqlite3.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

namespace parallax::sqlite {

// Turns an SQLite failure into the exception the caller should see: a file that is not ours or
// that cannot be written is the user's to fix, anything else is ours.
[[noreturn]] void fail(sqlite3* db, int rc, const std::string& path, const std::string& what);

void exec_sql(sqlite3* db, const std::string& path, const std::string& sql);

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

// The first column of the first row of sql as an integer; 0 when there is no row.
int64_t query_int(sqlite3* db, const std::string& path, const char* sql);

}  // namespace parallax::sqlite
