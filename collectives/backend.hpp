#pragma once
// The interface every backend (MPI, NCCL, our CUDA kernels) implements, so that bench and tune treat
// them alike. A backend owns its memory (host or device) and its communicator. Nothing here needs MPI:
// the GPU backends are built into a test program for machines that have no MPI.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "collectives/launch.hpp"
#include "collectives/types.hpp"

namespace cctune {

// What a backend is told when it is created.
struct BackendSettings {
  BackendSettings() = default;
  explicit BackendSettings(double timeout, LaunchSettings launch_settings = {})
      : timeout_seconds(timeout), launch(launch_settings) {}
  // A device backend gives up on a call stuck this long (NCCL: ncclCommAbort) and throws; 0: never.
  double timeout_seconds = 0;
  // How the timed calls are issued (nccl-tests' -z -m -C -y -G -R -x), already checked against the
  // backend's LaunchSupport.
  LaunchSettings launch;
};

struct AlgorithmInfo {
  std::string_view name;
  Collective collective;
  std::string_view description;  // one line, shown by `cctune bench --list`
  // Works only when every rank is on one node (shared memory): bench skips it and tune leaves it out
  // on runs that span nodes.
  bool one_node_only = false;
};

// Memory a backend's collectives read and write. Bench fills and checks it through host copies.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual void* data() = 0;
  virtual std::size_t bytes() const = 0;
  virtual void copy_from_host(const void* source, std::size_t bytes) = 0;
  virtual void copy_to_host(void* destination, std::size_t bytes) const = 0;
  // Sets the first `bytes` bytes to `value` (the poison written before each check).
  virtual void fill_bytes(std::byte value, std::size_t bytes) = 0;
  // The same memory from `offset` bytes in (nccl-tests' -u: misaligned buffers), valid while this
  // buffer lives; offset at most bytes().
  virtual std::unique_ptr<Buffer> view(std::size_t offset) = 0;
};

// The generated data (collectives/data_pattern.hpp) a buffer must hold: this rank's input, or what a
// correct collective leaves in this rank's output.
struct PatternRequest {
  Collective collective = Collective::allreduce;
  std::uint64_t seed = 0;
  DataType type = DataType::float32;
  ReduceOp op = ReduceOp::sum;
  int nranks = 1;
  int rank = 0;
  std::size_t count = 0;  // as CollectiveArgs::count
};

// One call's arguments. send == recv means in place. For allreduce, count is the element count of
// the vector; for alltoall it is the element count exchanged with each peer (the buffers hold
// count * nranks elements).
struct CollectiveArgs {
  const void* send = nullptr;
  void* recv = nullptr;
  std::size_t count = 0;
  DataType type = DataType::float32;
  ReduceOp op = ReduceOp::sum;
};

// An algorithm looked up once, then run many times in the timing loop.
class BoundCollective {
 public:
  virtual ~BoundCollective() = default;
  virtual const AlgorithmInfo& info() const = 0;
  // Returns when this rank's part of the collective has completed.
  virtual void run(const CollectiveArgs& args) = 0;
  // Backends that run on a device stream queue `iterations` calls back to back and time each between
  // two events, as nccl-tests does: a host clock around each call would time the launch and the
  // synchronisation too. Microseconds per call; nullopt: this backend is timed on the host.
  virtual std::optional<std::vector<double>> time_on_device(const CollectiveArgs& /*args*/, int /*iterations*/) {
    return std::nullopt;
  }
};

// The AlgorithmInfo of each entry of an algorithm registry (a range of pointers to objects with info()).
template <typename Registry>
std::vector<AlgorithmInfo> infos_of(const Registry& registry) {
  std::vector<AlgorithmInfo> infos;
  for (const auto& algorithm : registry) infos.push_back(algorithm->info());
  return infos;
}

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  // This rank's device as nccl-tests names it ("1 [0000:1b:00.0] NVIDIA H200"); empty for host memory.
  virtual std::string device() const { return {}; }
  // The collective library's version where it is not MPI ("2.28.9" for NCCL); empty otherwise.
  virtual std::string library_version() const { return {}; }
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Every algorithm this backend offers, for every collective, in the registry's order.
  virtual std::span<const AlgorithmInfo> algorithms() const = 0;
  virtual std::unique_ptr<Buffer> allocate(std::size_t bytes) = 0;
  // Throws UsageError for an unknown name.
  virtual std::unique_ptr<BoundCollective> bind(Collective collective, std::string_view algorithm) = 0;
  // Why this backend cannot honour `algorithm` here (the runtime, the hardware), or nullopt: tune leaves
  // such candidates out with that line. Collective where it is not the same on every rank.
  virtual std::optional<std::string> unavailable(Collective /*collective*/, std::string_view /*algorithm*/) const {
    return std::nullopt;
  }
  // How many bound collectives tune and verify keep alive at once (0: no limit): each of NCCL's holds a
  // communicator, 0.3-1 GiB of the GPU. Device memory in use at its peak so far (0: not measured).
  virtual std::size_t max_live_bound() const { return 0; }
  virtual std::uint64_t peak_device_bytes() const { return 0; }
  // Backends whose buffers live on a device generate the input and check the output there, so that
  // checking 256 MiB moves nothing over PCIe. false / nullopt: bench does it on the host.
  virtual bool fill_input(Buffer& /*buffer*/, const PatternRequest& /*input*/) { return false; }
  virtual std::optional<std::uint64_t> count_wrong(Buffer& /*buffer*/, const PatternRequest& /*expected*/) {
    return std::nullopt;
  }
};

}  // namespace cctune
