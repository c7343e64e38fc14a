#pragma once
// What a sweep produces, and the interface of everything that writes it out.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/options.hpp"
#include "bench/size_plan.hpp"
#include "bench/statistics.hpp"

namespace cctune::bench {

struct PlacementResult {
  double time_us = 0;  // per call, combined across ranks as -a says (nccl-tests' "time")
  double algbw_gbs = 0;
  double busbw_gbs = 0;
  std::optional<std::uint64_t> wrong;  // summed over ranks and check iterations; none when -c 0
  Summary slowest;                     // over iterations of the slowest rank's time
  std::vector<double> samples_us;      // per iteration, the slowest rank's time
  std::vector<std::vector<double>> per_rank_samples_us;  // with -I 1, at rank 0: each rank's own times
};

struct Row {
  Collective collective;
  std::string backend;
  std::string algorithm;
  MessageShape shape;
  DataType type;
  ReduceOp op;
  PlacementResult out_of_place;
  PlacementResult in_place;
};

// The speed of light of this run's shape (topology/speed_of_light), filled in by the command that
// knows the topology; 0: unknown.
struct SolBounds {
  double allreduce_busbw_gbs = 0, alltoall_busbw_gbs = 0;
  std::vector<std::string> basis;
  double of(Collective c) const { return c == Collective::allreduce ? allreduce_busbw_gbs : alltoall_busbw_gbs; }
  // busbw as a percentage of the bound; nullopt when the bound is unknown.
  std::optional<double> percent(Collective c, double busbw_gbs) const { return percent_of_bound(busbw_gbs, of(c)); }
};

struct RunInfo {
  std::string cctune_version;
  std::string git_revision;
  std::string mpi_library;
  std::string start_time;  // ISO 8601, UTC
  std::string command_line;
  int nranks = 1;
  int nnodes = 1;
  std::vector<std::string> hosts;  // per rank
  std::vector<long> pids;          // per rank
  std::vector<std::string> devices;  // per rank, for device backends ("1 [0000:1b:00.0] NVIDIA H200")
  std::string nccl_version;          // the NCCL the nccl backend loaded
  int nccl_version_code = 0;         // the same as NCCL's number (22803), 0 when none
  std::vector<int> ranks_per_node; // per distinct host, in order of first appearance
  SolBounds sol;
};

// Now, as ISO 8601 UTC to the second ("2026-11-21T08:00:57Z"): the form of every time cctune writes.
std::string utc_now();

struct TableTotals {
  std::uint64_t wrong = 0;
  double max_rss_mib = -1;  // -M 1: the largest resident set of any rank after the table; -1: not asked
  double busbw_sum = 0;
  std::uint64_t busbw_count = 0;
  double average_busbw() const { return busbw_count ? busbw_sum / static_cast<double>(busbw_count) : 0.0; }
  void add(const Row& row);
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void begin(const RunInfo&, const BenchOptions&) {}
  virtual void begin_table(Collective, const std::string& /*algorithm*/) {}
  virtual void row(const Row&) = 0;
  virtual void end_table(const TableTotals&) {}
  virtual void end(const TableTotals&) {}
};

}  // namespace cctune::bench
