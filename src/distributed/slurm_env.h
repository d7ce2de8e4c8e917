// Slurm's own variable formats: host lists ("node[01-04,07],gpu-1") and task counts per node
// ("2(x3),1"), read the way PyTorch users' launch scripts read them (no scontrol needed).
#pragma once
#include <string>
#include <vector>

namespace parallax {

// Every host a Slurm host list names, in order: "node[01-03],gpu7" -> node01 node02 node03 gpu7
// (zero padding kept, several bracket groups per name expanded). UserError on a malformed list.
std::vector<std::string> expand_slurm_nodelist(const std::string& list);

// Tasks on each node from SLURM_TASKS_PER_NODE's format: "2(x3),1" -> 2 2 2 1.
std::vector<int> expand_slurm_tasks_per_node(const std::string& counts);

// The rendezvous port a Slurm job uses when MASTER_PORT is not set: 15000 + the job id's last
// four digits (PyTorch Lightning's rule, so every task of a job derives the same port).
int slurm_default_port(const std::string& job_id);

}  // namespace parallax
