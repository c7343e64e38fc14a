// The one explicit list of MPI-backend algorithms. Add a line here to add an algorithm.
#include <vector>

#include "collectives/mpi/algorithms.hpp"

namespace cctune::mpi {
namespace {

std::vector<std::unique_ptr<MpiAlgorithm>> build_registry() {
  std::vector<std::unique_ptr<MpiAlgorithm>> algorithms;
  algorithms.push_back(make_library_allreduce());
  algorithms.push_back(make_ring_allreduce());
  algorithms.push_back(make_recursive_doubling_allreduce());
  algorithms.push_back(make_rabenseifner_allreduce());
  algorithms.push_back(make_shm_direct_allreduce());
  algorithms.push_back(make_shm_split_allreduce());
  for (int number = 1; number <= 6; ++number) algorithms.push_back(make_forced_library_allreduce(number));
  algorithms.push_back(make_library_alltoall());
  algorithms.push_back(make_pairwise_alltoall());
  algorithms.push_back(make_bruck_alltoall());
  algorithms.push_back(make_linear_alltoall());
  algorithms.push_back(make_shm_alltoall());
  for (int number = 1; number <= 4; ++number) algorithms.push_back(make_forced_library_alltoall(number));
  return algorithms;
}

}  // namespace

std::span<const std::unique_ptr<MpiAlgorithm>> registry() {
  static const auto algorithms = build_registry();
  return algorithms;
}

std::span<const AlgorithmInfo> registry_infos() {
  static const auto infos = infos_of(registry());
  return infos;
}

}  // namespace cctune::mpi
