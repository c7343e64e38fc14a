#pragma once
// The acceptance spec a cluster engineer writes (YAML, docs/acceptance.md): what every node must have,
// and what the collectives must reach on each node and on the whole allocation.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cctune::accept {

struct NodeSpec {
  std::optional<int> gpu_count;
  std::optional<std::string> gpu_model;    // every GPU's name contains it ("H100")
  std::optional<int> nic_count;            // NICs counted (RDMA ones only when nic_rdma)
  bool nic_rdma = false;
  std::optional<double> nic_min_speed_gbps;  // every counted NIC at least this fast
  std::optional<std::string> gpu_nic_path;   // every GPU's nearest counted NIC at most this path class
  std::optional<int> numa_nodes;
};

enum class Scope { node, allocation, both };

struct CollectiveCheck {
  std::string collective;  // allreduce, alltoall
  std::uint64_t bytes = 0;
  Scope scope = Scope::both;
  std::optional<double> min_busbw_gbs;  // GB/s, nccl-tests' bus bandwidth
  // Percent of the speed of light of the shape it runs at (topology/speed_of_light): the run sets
  // min_busbw_gbs from it and sol_gbs to that SOL, for each node and for the allocation.
  std::optional<double> min_sol_pct;
  double sol_gbs = 0;
  std::optional<double> max_latency_us;  // median time per call
  int line = 0;                          // in the spec, for messages
  std::size_t index = 0;                 // its place in the spec's list, for messages
  std::string name() const;              // "allreduce 1 MiB busbw >= 5 GB/s"
};

struct RunSettings {
  std::string backend = "mpi";
  std::string algorithm = "mpi";
  int iterations = 20;
  int warmup = 5;
};

struct Spec {
  NodeSpec node;
  std::vector<CollectiveCheck> collectives;
  RunSettings run;
  bool checks_anything() const;
};

// Limits of the whole numbers a spec gives: any real node or run is well inside them.
inline constexpr int kMaxDevices = 4096;
inline constexpr int kMaxRunCount = 100'000'000;
inline constexpr std::uint64_t kMaxSpecBytes = 1u << 20;  // real specs are a few hundred bytes

// Throws UsageError "NAME:LINE: KEY: reason" for unknown or duplicate keys, values without units,
// numbers out of range, impossible values, malformed YAML, more than one YAML document, and a spec
// that checks nothing.
Spec parse_spec(const std::string& text, const std::string& name);
// read_spec: files::read_regular_file (a FIFO or /dev/zero is refused, never read), then parse_spec.
Spec read_spec(const std::string& path);

// What can only be checked once the element type and the rank count are known: every size holds at
// least one element (one per rank for alltoall) and no more than one MPI call can count. Throws
// UsageError "NAME:LINE: collectives[i].size: reason" (a spec error, found before anything runs).
// nranks 0: not known yet (the rank-count check is skipped).
void check_runnable(const Spec& spec, const std::string& name, std::uint64_t element_bytes, std::string_view type_name,
                    int nranks);

// "400Gb/s" -> 400 (Gb/s); "5GB/s" -> 5 (GB/s); "50us" -> 50 (us); "1MiB" -> 1048576. Throw
// std::invalid_argument with the reason.
double parse_link_speed_gbps(const std::string& text);
double parse_bandwidth_gbs(const std::string& text);
double parse_duration_us(const std::string& text);
std::uint64_t parse_size_bytes(const std::string& text);

}  // namespace cctune::accept
