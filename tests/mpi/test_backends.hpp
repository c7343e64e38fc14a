#pragma once
// Backends for tests on real ranks: the MPI backend moving the data, with what a test changes on top.
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "collectives/mpi/backend.hpp"

namespace cctune::testing_backends {

// The MPI backend, with the parts a test changes left to it.
class WrappedMpiBackend : public Backend {
 public:
  explicit WrappedMpiBackend(MPI_Comm world) : inner_(world) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  std::span<const AlgorithmInfo> algorithms() const override { return inner_.algorithms(); }
  std::unique_ptr<Buffer> allocate(std::size_t bytes) override { return inner_.allocate(bytes); }

 protected:
  mpi::MpiBackend inner_;
};

// Runs `inner` and reports, as a device backend reports its event timings, the per-call times that
// sample_us gives for (args, index of the call).
struct SelfTimedCollective final : BoundCollective {
  SelfTimedCollective(std::unique_ptr<BoundCollective> wrapped, std::function<double(const CollectiveArgs&, int)> times)
      : inner(std::move(wrapped)), sample_us(std::move(times)) {}
  const AlgorithmInfo& info() const override { return inner->info(); }
  void run(const CollectiveArgs& args) override { inner->run(args); }
  std::optional<std::vector<double>> time_on_device(const CollectiveArgs& args, int iterations) override {
    std::vector<double> samples;
    for (int i = 0; i < iterations; ++i) {
      inner->run(args);
      samples.push_back(sample_us(args, i));
    }
    return samples;
  }
  std::unique_ptr<BoundCollective> inner;
  std::function<double(const CollectiveArgs&, int)> sample_us;
};

}  // namespace cctune::testing_backends
