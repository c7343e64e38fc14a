#pragma once
// The MPI backend: host buffers, the MPI library's collectives and the host algorithms of registry.cpp.
#include <memory>
#include <vector>

#include "collectives/backend.hpp"
#include "collectives/bootstrap.hpp"

namespace cctune::mpi {

class MpiBackend final : public Backend {
 public:
  explicit MpiBackend(MPI_Comm parent);
  std::string_view name() const override { return "mpi"; }
  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }
  std::span<const AlgorithmInfo> algorithms() const override;
  std::unique_ptr<Buffer> allocate(std::size_t bytes) override;
  std::unique_ptr<BoundCollective> bind(Collective collective, std::string_view algorithm) override;

 private:
  Communicator comm_;
};

}  // namespace cctune::mpi
