#pragma once
// The interface every backend (MPI today; NCCL and CUDA kernels next) implements, so that bench and
// tune treat them alike. A backend owns its memory (host or device) and its communicator.
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "collectives/types.hpp"

namespace cctune {

struct AlgorithmInfo {
  std::string_view name;
  Collective collective;
  std::string_view description;  // one line, shown by `cctune bench --list`
};

// Memory a backend's collectives read and write. Bench fills and checks it through host copies.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual void* data() = 0;
  virtual std::size_t bytes() const = 0;
  virtual void copy_from_host(const void* source, std::size_t bytes) = 0;
  virtual void copy_to_host(void* destination, std::size_t bytes) const = 0;
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
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Every algorithm this backend offers, for every collective, in the registry's order.
  virtual std::span<const AlgorithmInfo> algorithms() const = 0;
  virtual std::unique_ptr<Buffer> allocate(std::size_t bytes) = 0;
  // Throws UsageError for an unknown name.
  virtual std::unique_ptr<BoundCollective> bind(Collective collective, std::string_view algorithm) = 0;
};

}  // namespace cctune
