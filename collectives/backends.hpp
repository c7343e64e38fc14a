#pragma once
// The explicit list of backends. A new backend is one folder plus one entry here.
#include <mpi.h>

#include <memory>
#include <span>
#include <string_view>

#include "collectives/backend.hpp"

namespace cctune {

struct BackendEntry {
  std::string_view name;
  std::string_view description;
  // The algorithms it offers, known without creating the backend (so options are checked before
  // any rank communicates).
  std::span<const AlgorithmInfo> (*algorithms)();
  // Throws UsageError for a collective, element type and operation this backend cannot run, again
  // before any rank communicates.
  void (*check)(Collective collective, DataType type, ReduceOp op);
  // Collective over `world`.
  std::unique_ptr<Backend> (*create)(MPI_Comm world, const BackendSettings& settings);
  // Which of nccl-tests' launch options it honours (check_launch), known before it is created.
  LaunchSupport launch;
};

std::span<const BackendEntry> backend_registry();
// Throws UsageError naming the known backends.
const BackendEntry& find_backend(std::string_view name);

}  // namespace cctune
