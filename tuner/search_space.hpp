#pragma once
// What `cctune tune` measures for a backend, and what each candidate becomes in the profile.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/measure.hpp"
#include "collectives/backend.hpp"
#include "collectives/bootstrap.hpp"
#include "tuner/profile.hpp"

namespace cctune::tuner {

struct Candidate {
  std::string backend;    // the backend that runs it
  std::string algorithm;  // that backend's name for it (`cctune bench --algorithm`)
  Choice choice;          // what the profile records, and the exporters turn into settings
};

// The candidates of one backend for one collective. The first is the baseline: the library's own
// decision, which a job gets with no configuration at all (Open MPI's for mpi, NCCL's for nccl and for
// cuda, whose kernels are judged against NCCL). Tune falls back to it and verify compares with it.
// Only what a job can import is in it:
//   mpi:  "ompi:0", each forced Open MPI algorithm (rules file), our host algorithms (libcctune-mpi.so;
//         not with library_only; those that need shared memory only when nnodes is 1);
//   nccl: allreduce: NCCL's choice and each algorithm x protocol, each with and without a channel cap
//         (the tuner plugin sets all three per call); alltoall: NCCL's choice and more network
//         channels per peer (the env file). Grouped send/recv and capped alltoall stay bench-only:
//         the plugin never sees alltoall, and a job-wide NCCL_MAX_CTAS would cap allreduce too;
//   cuda: NCCL's choice, then our kernels (no job imports them yet: this measures what they would gain).
// Throws UsageError for a backend this binary does not have.
std::vector<Candidate> search_space(std::string_view backend, Collective collective, bool library_only = false,
                                    int nnodes = 1);

// The profile's name of a candidate in tables and records: "ompi:0" for Open MPI's own decision,
// otherwise the backend's algorithm name.
std::string label(const Candidate& candidate);

// The candidate of `space` a profile rule chose; nullptr when the space has none like it (a profile
// written by another cctune build, or edited).
const Candidate* find_candidate(const std::vector<Candidate>& space, const Rule& rule);

// Every mpi rule of the profile names an algorithm this cctune has for its collective (Open MPI's
// "ompi:N" are checked when the profile is read), and every cuda rule one of this build's kernels
// when it has the cuda backend. UsageError "NAME: rule N: unknown mpi allreduce algorithm 'x' (known:
// ...)" otherwise: an env file must not preload libcctune-mpi.so for an algorithm it does not have.
void check_algorithms(const Profile& profile, const std::string& name);

// Runs candidates of several backends side by side: each backend is created, and given buffers for
// the largest of options.sizes, the first time one of its candidates is bound. Bound collectives live
// in a pool: at most Backend::max_live_bound() of one backend at once (an NCCL communicator holds
// 0.3-1 GiB of the GPU), the least recently used destroyed to make room. Collective: every rank must
// acquire the same candidates in the same order.
class CandidateRunner {
 public:
  using CreateBackend = std::function<std::unique_ptr<Backend>(std::string_view name)>;
  // create: by default the registered backend of that name over MPI_COMM_WORLD, with options' timeout.
  CandidateRunner(const Communicator& world, const bench::BenchOptions& options, CreateBackend create = {});
  ~CandidateRunner();
  CandidateRunner(const CandidateRunner&) = delete;
  CandidateRunner& operator=(const CandidateRunner&) = delete;

  Backend& backend(std::string_view name);
  // The candidate's bound collective, bound now unless it is alive; valid until the next acquire or
  // release.
  BoundCollective& acquire(const Candidate& candidate, Collective collective);
  // Destroys the candidate's bound collective, if alive.
  void release(const Candidate& candidate, Collective collective);
  // Destroys every bound collective: what comes next starts on fresh ones.
  void release_all();
  bench::PlacementResult measure(const Candidate& candidate, const bench::MessageShape& shape,
                                 const bench::Repetitions& repetitions, Collective collective);
  // Why the candidate's backend cannot honour it here, or nullopt (Backend::unavailable).
  std::optional<std::string> unavailable(const Candidate& candidate, Collective collective);

  std::size_t live() const;                             // bound collectives alive now
  std::size_t peak_live() const { return peak_live_; }  // the most bound collectives alive at once
  std::uint64_t binds() const { return binds_; }         // bound collectives created in all
  std::uint64_t peak_device_bytes() const;               // this rank, the most of any backend created

 private:
  struct Slot;
  struct Live;
  Slot& slot(std::string_view name);
  const Communicator& world_;
  const bench::BenchOptions& options_;
  std::uint64_t max_bytes_;
  CreateBackend create_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Live> live_;
  std::uint64_t clock_ = 0;
  std::size_t peak_live_ = 0;
  std::uint64_t binds_ = 0;
};

// The candidates of `space` (after the first, the baseline) that the runner's backends cannot honour
// here, removed from it; one "label: reason" each.
std::vector<std::string> drop_unavailable(std::vector<Candidate>& space, CandidateRunner& runner, Collective collective);

}  // namespace cctune::tuner
