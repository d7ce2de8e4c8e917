// SQLite C API helpers of the results database: SQLite failures turned into exceptions.
#include "metrics/sqlite_util.h"

#include <stdexcept>

#include "config/user_error.h"

namespace parallax::sqlite {
namespace {

std::string not_ours_message(const std::string& path) {
  return path +
         ": not a parallax results database (not SQLite, or corrupt); move it away and run "
         "again; parallax will not overwrite it";
}

}  // namespace

void fail(sqlite3* db, int rc, const std::string& path, const std::string& what) {
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

int64_t query_int(sqlite3* db, const std::string& path, const char* sql) {
  Statement s(db, path, sql);
  return s.step() ? s.column_int(0) : 0;
}

}  // namespace parallax::sqlite
