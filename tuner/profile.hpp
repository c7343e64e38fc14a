#pragma once
// The profile: what `cctune tune` chose for one allocation shape, per collective and size range.
// Versioned JSON (docs/profile.md). Read by the exporters, `cctune verify` and the NCCL tuner plugin.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cctune::tuner {

inline constexpr int kProfileVersion = 1;

// The one list of each kind of name a profile (and the plugin's CSV) may use. NCCL's in the order of
// its enums, which index the cost table (ncclFunc_t, NCCL_ALGO_*, NCCL_PROTO_*).
inline constexpr std::array<std::string_view, 6> kCollectives{"allreduce", "alltoall", "allgather",
                                                              "reducescatter", "broadcast", "reduce"};
inline constexpr std::array<std::string_view, 5> kNcclCollectives{"broadcast", "reduce", "allgather",
                                                                  "reducescatter", "allreduce"};
inline constexpr std::array<std::string_view, 7> kNcclAlgorithms{"tree", "ring", "collnet_direct", "collnet_chain",
                                                                 "nvls", "nvls_tree", "pat"};
inline constexpr std::array<std::string_view, 3> kNcclProtocols{"ll", "ll128", "simple"};
// NCCL's MAXCHANNELS: a channel cap above it is not one NCCL can have.
inline constexpr int kMaxNcclChannels = 64;
// A profile or rule file larger than this is refused unread: 100,000 rules take about 20 MiB, and
// the NCCL plugin reads the file once per communicator on every rank.
inline constexpr std::uint64_t kMaxProfileBytes = 32ull << 20;

int nccl_collective_index(std::string_view name);  // -1 when NCCL's tuner never sees it (alltoall)
int nccl_algorithm_index(std::string_view name);   // -1 for "any" (or -1); -2 unknown
int nccl_protocol_index(std::string_view name);    // likewise

// Open MPI's coll/tuned algorithms: 1..6 for allreduce, 1..5 for alltoall (0: its own decision;
// ../shared/notes/interop-formats.md). -1 for a collective the rules file does not carry.
int ompi_algorithm_limit(std::string_view collective);
// N of "ompi:N" when it is one of those, otherwise nullopt (not "ompi:", not digits, out of range).
std::optional<int> ompi_algorithm_number(std::string_view collective, std::string_view algorithm);

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

// What `cctune plan` predicted a rule's choice takes at one size of a shape never measured.
struct PredictedPoint {
  std::uint64_t bytes = 0;
  double us = 0;
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
  // Non-empty: the rule was predicted (`cctune plan --add-to`), not measured. Such a rule names its
  // nranks and nnodes, which are never the profile's shape; `verify` at that shape re-measures it.
  std::vector<PredictedPoint> predicted;
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

// The rule is for a communicator of nranks ranks on nnodes nodes (a rule without its own counts is
// for the profile's shape). The one test the plugin, the shim and verify apply.
bool applies_to(const Profile& profile, const Rule& rule, int nranks, int nnodes);
// Some rule of this backend is for that shape: the profile's own, or one with its own counts
// (predicted ones included).
bool has_rules_for(const Profile& profile, std::string_view backend, int nranks, int nnodes);
// How many of the profile's rules are predicted ones for that shape.
std::size_t predicted_rules_for(const Profile& profile, int nranks, int nnodes);

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

// Throws cctune::UsageError "PATH: reason" for a missing, malformed, truncated or newer-version file,
// for anything that is not a regular file of at most kMaxProfileBytes (a FIFO, /dev/zero: never
// blocks), and for any value out of its range ("PATH: rule 3: choice: "channels" is 1099511627776;
// allowed: a whole number from 0 to 64").
Profile read_profile(const std::string& path);
Profile parse_profile(const std::string& text, const std::string& name);
std::string profile_to_json(const Profile& profile);

}  // namespace cctune::tuner
