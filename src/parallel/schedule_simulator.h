// A pipeline step played out on paper: every rank's actions (schedule.h) with given durations,
// each starting once its rank is free and its inputs exist. Gives the bubble a schedule would
// have with those times: with profiled F, I, W times it is the zero-bubble paper's way of
// computing a bubble, which parallax reports beside the one it measures. Pure.
#pragma once
#include <string>
#include <vector>

#include "parallel/schedule.h"

namespace parallax {

// Seconds one action takes on a rank, per chunk.
struct ActionTimes {
  double forward = 1, backward = 2, input = 1, weight = 1;
  double of(Action::Kind k) const;
};

struct SimulatedStep {
  std::vector<double> busy_s, end_s;  // per rank: compute, and when its last action ends
  std::vector<std::vector<double>> start_s;  // per rank, per action
  double makespan_s = 0;
  // As parallax measures it: per rank (makespan - busy) / makespan, the mean over ranks.
  double bubble = 0;
  std::string deadlock;  // "" if every action ran, else the first rank and action stuck
};

// per_rank[s]: rank s's actions; times[s][c]: its chunk c's action times; hop_s: added where an
// activation or gradient crosses to another rank.
SimulatedStep simulate_schedule(const std::vector<std::vector<Action>>& per_rank,
                                const PipelineLayout& layout, int micro,
                                const std::vector<std::vector<ActionTimes>>& times,
                                double hop_s = 0);
// The same times for every rank and chunk.
SimulatedStep simulate_schedule(const std::vector<std::vector<Action>>& per_rank,
                                const PipelineLayout& layout, int micro, const ActionTimes& each,
                                double hop_s = 0);

// Every rank's schedule, for the simulator and tests.
std::vector<std::vector<Action>> all_schedules(const std::string& schedule, int micro,
                                               const PipelineLayout& layout);

}  // namespace parallax
