// The process group (c10d backend) over all ranks: Gloo, NCCL or MPI, as --backend asks and as
// this LibTorch was built.
#pragma once
#include <torch/types.h>

#include <chrono>
#include <string>

#include "distributed/torch_compat.h"

namespace parallax {

struct GroupSpec {
  std::string backend;  // auto | gloo | nccl | mpi
  torch::Device device = torch::kCPU;
  std::string master_addr;
  int master_port = 0;
  std::chrono::milliseconds timeout{120000};
};

// "auto" is NCCL for CUDA devices (where built) and Gloo otherwise. UserError for a backend this
// build lacks.
compat::Group make_process_group(const GroupSpec& spec, const c10::intrusive_ptr<c10d::Store>& store,
                                 int rank, int world);

}  // namespace parallax
