// Launcher: starts the local ranks of a run as child processes of this one and watches them.
#pragma once
#include <string>
#include <vector>

namespace parallax {

struct LaunchSpec {
  std::vector<std::string> argv;  // the command each rank runs (this binary and its arguments)
  int nproc = 1;                  // ranks on this node
  int nnodes = 1, node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;  // 0: a free port on this machine (single node only)
  int threads_per_rank = 1;
  double comm_timeout_s = 120;  // a rank silent for half of it (2 s at least) is named and stopped
  bool quiet_interrupt = false;  // an interrupt is the caller's to say, in its own words
};

// A TCP port nobody listens on right now (bound to port 0, then released).
int free_tcp_port();

// Runs the ranks with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT
// and OMP_NUM_THREADS set; prefixes each line they print with "[rank R] "; forwards SIGINT and
// SIGTERM (the ranks stop together after the current step: "interrupted", exit code 130). When
// a rank fails, stops the others, names it in one line and returns its exit code; a rank whose
// heartbeat stops (SIGSTOP, a frozen process) is named as the one that went silent. A diverged
// run (exit code 3 on every rank) is left to end by itself, so rank 0 records why.
// While it runs it handles SIGINT, SIGTERM and SIGCHLD; it puts back the handlers it found when
// it returns (or throws).
int launch_ranks(const LaunchSpec& spec);
// The same; *interrupted says whether SIGINT or SIGTERM reached it meanwhile (even where the
// ranks had finished anyway).
int launch_ranks(const LaunchSpec& spec, bool* interrupted);

}  // namespace parallax
