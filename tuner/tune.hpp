#pragma once
// `cctune tune`: measure the candidates on this allocation, choose per size, build the profile.
#include <functional>
#include <string>
#include <vector>

#include "bench/options.hpp"
#include "bench/report.hpp"
#include "collectives/backend.hpp"
#include "collectives/bootstrap.hpp"
#include "tuner/profile.hpp"
#include "tuner/search.hpp"
#include "tuner/search_space.hpp"

namespace cctune::tuner {

enum class Strategy { racing, exhaustive, both };

struct TuneOptions {
  std::string backend = "mpi";  // whose search space (tuner/search_space.hpp)
  std::vector<Collective> collectives{Collective::allreduce, Collective::alltoall};
  std::vector<std::uint64_t> sizes;
  Strategy strategy = Strategy::racing;
  SearchOptions search;
  bench::BenchOptions bench;  // data type, op, seed for the measurements
  int confirm_rounds = 5;     // 0: keep the search's choices unconfirmed
  int confirm_iterations = 10;  // per candidate per confirmation round
  bool library_only = false;  // mpi: only what Open MPI runs itself, so a job needs no libcctune-mpi.so
  // Called on every rank, as it happens, with a line for a candidate left out (one this runtime or
  // hardware cannot honour, one with a wrong result).
  std::function<void(const std::string&)> note;
};

struct CollectiveReport {
  Collective collective;
  std::vector<Candidate> space;         // [0]: the library's own decision
  std::string label(std::size_t c) const { return tuner::label(space[c]); }
  std::vector<std::string> labels() const;
  std::vector<std::uint64_t> bytes;     // per size, what was moved
  SearchResult chosen;                  // the strategy whose choices went into the profile
  double chosen_seconds = 0;
  SearchResult exhaustive;              // only with Strategy::both
  double exhaustive_seconds = 0;
  std::vector<bool> reverted;           // per size: the choice was not confirmed faster than the baseline
  std::vector<double> confirmed_speedup;  // per size: default over choice in the confirmation (0: none)
  double confirm_seconds = 0;
  std::vector<std::string> left_out;    // "label: reason", candidates this runtime or hardware cannot honour
  std::vector<std::string> failed;      // candidates left out after a wrong result, with it
};

struct TuneReport {
  Profile profile;
  std::vector<CollectiveReport> collectives;
  std::size_t peak_live = 0;            // the most bound collectives (NCCL: communicators) alive at once
  std::uint64_t binds = 0;              // bound collectives created in all
  std::uint64_t peak_device_bytes = 0;  // GPU memory in use at its peak, the most of any rank (0: host only)
};

// Collective over `world`; the same result on every rank. `runner` creates the backends the search
// space needs.
TuneReport tune(CandidateRunner& runner, const Communicator& world, const TuneOptions& options, const bench::RunInfo& info,
                const std::string& fingerprint);

// Neighbouring sizes with the same winner become one rule; the first starts at 0, the last is open.
std::vector<Rule> merge_into_rules(const CollectiveReport& report);

}  // namespace cctune::tuner
