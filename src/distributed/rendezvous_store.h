// The rendezvous store every rank meets at (c10d::Store): a FileStore in a private folder when
// parallax's launcher started every rank on this node (nothing listens on the network at all);
// torchrun's agent's own TCPStore, joined as a client under the attempt's prefix, when the agent
// hosts one; else a TCPStore hosted by rank 0, bound to --master-addr where LibTorch lets it.
#pragma once
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>

#include "distributed/rank_env.h"

namespace parallax {

// Set by the launcher for a one-node run: the FileStore's path.
constexpr const char* kStoreFileEnv = "PARALLAX_STORE_FILE";

// UserError, in one line, for a port in use, an address not of this host, or a master that
// cannot be reached within timeout.
c10::intrusive_ptr<c10d::Store> make_rendezvous_store(const RankEnv& env, int rank, int world,
                                                      std::chrono::milliseconds timeout);

// The agent's store under a prefix of parallax's own that no attempt's prefix covers: what one
// attempt leaves there (the run folder, the last step it finished) the next attempt reads.
// Null unless torchrun's agent hosts the store.
c10::intrusive_ptr<c10d::Store> make_job_store(const RankEnv& env,
                                               std::chrono::milliseconds timeout);

}  // namespace parallax
