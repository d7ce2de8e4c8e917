// gnuplot: charts are rendered by a child gnuplot process per chart, its exit status checked.
#include "report/gnuplot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "config/user_error.h"
#include "metrics/atomic_file.h"

namespace parallax {
namespace {

constexpr const char* kInstallHint = "apt-get install gnuplot-nox";

bool is_executable_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Runs argv in dir; returns the exit status (-1 if it did not exit) and what it wrote to
// stdout and stderr.
int run_in(const std::string& dir, const std::vector<std::string>& args, std::string* output) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    const int null_fd = ::open("/dev/null", O_RDONLY);  // gnuplot must never wait on input
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) output->append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool non_empty_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && st.st_size > 0;
}

}  // namespace

std::string find_on_path(const std::string& program) {
  if (program.find('/') != std::string::npos) return is_executable_file(program) ? program : "";
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (is_executable_file(candidate)) return candidate;
  }
  return "";
}

std::string find_gnuplot(const std::string& configured) {
  if (!configured.empty()) {
    const std::string found = find_on_path(configured);
    if (found.empty())
      throw UserError("gnuplot " + configured + " not found or not executable; " + kInstallHint +
                      " or pass the path of a gnuplot 5");
    return found;
  }
  const std::string found = find_on_path("gnuplot");
  if (found.empty()) throw UserError(std::string("gnuplot not found on PATH; ") + kInstallHint);
  return found;
}

std::string gnuplot_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out + "\"";
}

std::string gnuplot_field(const std::string& text) {
  std::string out = "\"";
  for (char c : text) out += (c == '"' ? '\'' : (c == '\n' || c == '\t') ? ' ' : c);
  return out + "\"";
}

std::string gnuplot_script(const GnuplotChart& chart) {
  std::ostringstream s;
  s << "# " << chart.name << ": written by `parallax report`; re-plot with `gnuplot " << chart.name
    << ".gp` in this folder.\n"
    << "# Reads " << chart.name << ".dat; writes " << chart.name << ".png and " << chart.name
    << ".svg (or <out>.png/.svg with -e 'out=\"name\"').\n"
    << "if (!exists(\"out\")) out = " << gnuplot_string(chart.name) << "\n"
    << "do for [fmt in \"png svg\"] {\n"
    << "  reset\n"
    // noenhanced: labels are run names, and '_' or '^' in them must print as typed.
    << "  if (fmt eq \"png\") {\n"
    << "    set terminal pngcairo size 900,500 noenhanced font \"DejaVu Sans,10\"\n"
    << "  } else {\n"
    << "    set terminal svg size 900,500 dynamic noenhanced font \"DejaVu Sans,10\" "
       "background \"white\"\n"
    << "  }\n"
    << "  set output out.\".\".fmt\n"
    << "  set datafile missing \"NaN\"\n"
    << "  set grid ytics lc rgb \"#dddddd\"\n"
    << "  set border 3\n"
    << "  set tics nomirror\n"
    << "  set linetype 1 lc rgb \"#4c72b0\" lw 2 pt 7\n"
    << "  set linetype 2 lc rgb \"#dd8452\" lw 2 pt 5\n"
    << "  set linetype 3 lc rgb \"#55a868\" lw 2 pt 9\n"
    << "  set linetype 4 lc rgb \"#c44e52\" lw 2 pt 11\n"
    << "  set linetype 5 lc rgb \"#8172b3\" lw 2 pt 13\n"
    << "  set linetype 6 lc rgb \"#937860\" lw 2 pt 4\n"
    << "  set linetype 7 lc rgb \"#da8bc3\" lw 2 pt 6\n"
    << "  set linetype 8 lc rgb \"#8c8c8c\" lw 2 pt 8\n"
    << "  set linetype 9 lc rgb \"#ccb974\" lw 2 pt 10\n"
    << "  set linetype 10 lc rgb \"#64b5cd\" lw 2 pt 12\n"
    << "  set linetype cycle 10\n";
  std::istringstream body(chart.body);
  std::string line;
  while (std::getline(body, line)) s << "  " << line << "\n";
  s << "  unset output\n"
    << "}\n";
  return s.str();
}

void render_chart(const std::string& gnuplot, const std::string& dir, const GnuplotChart& chart) {
  write_file_atomic(dir + "/" + chart.name + ".dat", chart.data);
  write_file_atomic(dir + "/" + chart.name + ".gp", gnuplot_script(chart));
  // gnuplot writes to temporary names; the renames below make each image appear whole.
  const std::string temp = chart.name + ".tmp." + std::to_string(::getpid());
  std::string output;
  const int rc =
      run_in(dir, {gnuplot, "-e", "out=" + gnuplot_string(temp), chart.name + ".gp"}, &output);
  std::string failure;
  if (rc != 0) {
    failure = rc == 127 ? "could not be started" : "exited with status " + std::to_string(rc);
  }
  for (const char* ext : {".png", ".svg"})
    if (failure.empty() && !non_empty_file(dir + "/" + temp + ext))
      failure = std::string("wrote no ") + ext;
  if (!failure.empty()) {
    for (const char* ext : {".png", ".svg"}) std::remove((dir + "/" + temp + ext).c_str());
    while (!output.empty() && output.back() == '\n') output.pop_back();
    throw std::runtime_error(gnuplot + " " + failure + " on " + dir + "/" + chart.name + ".gp" +
                             (output.empty() ? "" : ": " + output));
  }
  for (const char* ext : {".png", ".svg"}) {
    const std::string from = dir + "/" + temp + ext, to = dir + "/" + chart.name + ext;
    if (std::rename(from.c_str(), to.c_str()) != 0)
      throw std::runtime_error("cannot write " + to + ": " + std::strerror(errno));
  }
}

}  // namespace parallax
