#include "collectives/mpi/backend.hpp"

#include <cstring>
#include <string>

#include "collectives/error.hpp"
#include "collectives/mpi/algorithm.hpp"
#include "collectives/reduce.hpp"

namespace cctune::mpi {
namespace {

// Host memory someone else owns.
class HostBufferView : public Buffer {
 public:
  HostBufferView(std::byte* pointer, std::size_t bytes) : pointer_(pointer), bytes_(bytes) {}
  void* data() override { return pointer_; }
  std::size_t bytes() const override { return bytes_; }
  void copy_from_host(const void* source, std::size_t bytes) override {
    if (bytes) std::memcpy(pointer_, source, bytes);
  }
  void copy_to_host(void* destination, std::size_t bytes) const override {
    if (bytes) std::memcpy(destination, pointer_, bytes);
  }
  void fill_bytes(std::byte value, std::size_t bytes) override {
    if (bytes) std::memset(pointer_, static_cast<int>(value), bytes);
  }
  std::unique_ptr<Buffer> view(std::size_t offset) override {
    offset = std::min(offset, bytes_);
    return std::make_unique<HostBufferView>(pointer_ + offset, bytes_ - offset);
  }

 protected:
  void reset(std::byte* pointer, std::size_t bytes) {
    pointer_ = pointer;
    bytes_ = bytes;
  }

 private:
  std::byte* pointer_;
  std::size_t bytes_;
};

class HostBuffer final : public HostBufferView {
 public:
  explicit HostBuffer(std::size_t bytes) : HostBufferView(nullptr, 0), storage_(bytes) {
    reset(storage_.data(), storage_.size());
  }

 private:
  std::vector<std::byte> storage_;
};

class BoundMpiAlgorithm final : public BoundCollective {
 public:
  BoundMpiAlgorithm(const Communicator& parent, const MpiAlgorithm& algorithm)
      : comm_(algorithm.communicator(parent)), algorithm_(algorithm) {}

  const AlgorithmInfo& info() const override { return algorithm_.info(); }

  void run(const CollectiveArgs& args) override {
    if (algorithm_.info().collective != Collective::allreduce) {
      algorithm_.run(comm_, args, workspace_);
    } else if (is_half_precision(args.type)) {
      run_widened(args);
    } else {
      algorithm_.run(comm_, args, workspace_);
      if (args.op == ReduceOp::avg) divide_by(args.recv, args.count, args.type, comm_.size());
    }
  }

 private:
  // Half-precision vectors are reduced in float32 and rounded once at the end, whatever the algorithm,
  // so every algorithm (and the library's own) returns the same bits.
  void run_widened(const CollectiveArgs& args) {
    auto* wide = reinterpret_cast<float*>(widened_.get(0, args.count * sizeof(float)));
    widen_to_float32(static_cast<const std::uint16_t*>(args.send), wide, args.count, args.type);
    CollectiveArgs widened_args = args;
    widened_args.send = wide;
    widened_args.recv = wide;
    widened_args.type = DataType::float32;
    algorithm_.run(comm_, widened_args, workspace_);
    if (args.op == ReduceOp::avg) divide_by(wide, args.count, DataType::float32, comm_.size());
    narrow_from_float32(wide, static_cast<std::uint16_t*>(args.recv), args.count, args.type);
  }

  Communicator comm_;
  const MpiAlgorithm& algorithm_;
  Workspace workspace_;
  Workspace widened_;
};

}  // namespace

MpiBackend::MpiBackend(MPI_Comm parent) : comm_(Communicator::duplicate(parent)) {}

std::span<const AlgorithmInfo> MpiBackend::algorithms() const { return registry_infos(); }

std::unique_ptr<Buffer> MpiBackend::allocate(std::size_t bytes) { return std::make_unique<HostBuffer>(bytes); }

std::unique_ptr<BoundCollective> MpiBackend::bind(Collective collective, std::string_view algorithm) {
  for (const auto& candidate : registry()) {
    if (candidate->info().collective == collective && candidate->info().name == algorithm) {
      return std::make_unique<BoundMpiAlgorithm>(comm_, *candidate);
    }
  }
  CCTUNE_USAGE_ERROR("unknown " + std::string(to_string(collective)) + " algorithm '" + std::string(algorithm) +
                     "' for backend mpi");
}

}  // namespace cctune::mpi
