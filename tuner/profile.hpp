#pragma once
// The profile: what `cctune tune` chose for one allocation shape, per collective and size range.
// Versioned JSON (docs/profile.md). Read by the exporters, `cctune verify` and the NCCL tuner plugin.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cctune::tuner {

inline constexpr int kProfileVersion = 1;

struct Choice {
  // nccl: tree, ring, ..., pat or "any" (NCCL's choice); for alltoall also "p2p_grouped"
  // mpi: ours (ring ...) or "ompi:N"; cuda: our kernel (one_shot ...)
  std::string algorithm;
  std::string protocol = "any";  // nccl only: ll, ll128, simple or "any"
  int channels = 0;              // nccl only: cap on channels; 0 leaves NCCL's count
  int channels_per_net_peer = 0;  // nccl alltoall only: network channels per remote peer; 0: NCCL's
  std::uint64_t segsize = 0;     // mpi "ompi:N" only: coll/tuned segment size in bytes; 0: Open MPI's
  int fanout = 0;                // mpi "ompi:N" only: tree fan-in/out; 0: Open MPI's
};

struct Rule {
  std::string collective;  // allreduce, alltoall, allgather, reducescatter, broadcast, reduce
  std::string backend;     // mpi, nccl, cuda
  std::uint64_t min_bytes = 0;
  std::uint64_t max_bytes = 0;  // inclusive
  int nranks = -1;              // -1: the profile's shape
  int nnodes = -1;
  int num_pipe_ops = -1;        // -1: any (NVIDIA's CSV column)
  int reg_buff = -1;            // -1: any
  Choice choice;
  double median_us = 0;
  std::optional<Choice> runner_up;
  double runner_up_median_us = 0;
};

struct Shape {
  int nranks = 0;
  int nnodes = 0;
  int ranks_per_node = 0;
  std::string fingerprint;
  std::string nccl_version, mpi_library;
};

struct Profile {
  int version = kProfileVersion;
  std::string created, cctune_version, git_revision;
  std::string backend = "mpi";  // the backend tuned: its library's own decision is what verify compares with
  Shape shape;
  std::vector<Rule> rules;
  std::uint64_t measurements = 0;
  double measurement_seconds = 0;
};

// An mpi-backend choice the MPI library runs itself: its own decision ("mpi") or a forced Open MPI
// algorithm ("ompi:N"), which a job gets through the rules file. Anything else is one of cctune's host
// algorithms, which a job gets only through libcctune-mpi.so.
bool operator==(const Choice& a, const Choice& b);

inline bool runs_in_mpi_library(std::string_view algorithm) {
  return algorithm == "mpi" || algorithm.substr(0, 5) == "ompi:";
}

// What a job's env file measured on its node (CCTUNE_NODE_FINGERPRINT, from `cctune topo --fingerprint`)
// against the fingerprint the profile was tuned on. Throws UsageError when both are known and differ:
// the NCCL plugin and libcctune-mpi.so then leave the library's choices alone. Unknown (empty) passes.
void check_node_fingerprint(const Profile& profile, std::string_view node_fingerprint);
inline constexpr const char* kNodeFingerprintVariable = "CCTUNE_NODE_FINGERPRINT";
// The same for the node this process runs on, as its environment says (inside a job).
void check_this_node(const Profile& profile);

// Throws cctune::UsageError "PATH: reason" for a missing, malformed, truncated or newer-version file.
Profile read_profile(const std::string& path);
Profile parse_profile(const std::string& text, const std::string& name);
std::string profile_to_json(const Profile& profile);

}  // namespace cctune::tuner
