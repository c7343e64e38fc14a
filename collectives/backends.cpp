#include "collectives/backends.hpp"

#include <array>
#include <string>

#include "collectives/error.hpp"
#include "collectives/mpi/algorithm.hpp"
#include "collectives/mpi/backend.hpp"

namespace cctune {
namespace {

std::unique_ptr<Backend> create_mpi(MPI_Comm world) { return std::make_unique<mpi::MpiBackend>(world); }

const std::array kBackends{
    BackendEntry{"mpi", "host buffers; the MPI library's collectives and host algorithms over MPI p2p",
                 mpi::registry_infos, create_mpi},
};

}  // namespace

std::span<const BackendEntry> backend_registry() { return kBackends; }

const BackendEntry& find_backend(std::string_view name) {
  std::string known;
  for (const auto& entry : kBackends) {
    if (entry.name == name) return entry;
    known += (known.empty() ? "" : ", ") + std::string(entry.name);
  }
  if (name == "nccl" || name == "cuda") {
    CCTUNE_USAGE_ERROR("backend '" + std::string(name) + "' needs CUDA, and this binary was built without it");
  }
  CCTUNE_USAGE_ERROR("unknown backend '" + std::string(name) + "' (this build has: " + known + ")");
}

}  // namespace cctune
