#pragma once
// One factory per algorithm file; registry.cpp lists them. Nothing registers itself.
#include <memory>

#include "collectives/mpi/algorithm.hpp"

namespace cctune::mpi {

std::unique_ptr<MpiAlgorithm> make_library_allreduce();
std::unique_ptr<MpiAlgorithm> make_ring_allreduce();
std::unique_ptr<MpiAlgorithm> make_recursive_doubling_allreduce();
std::unique_ptr<MpiAlgorithm> make_rabenseifner_allreduce();

std::unique_ptr<MpiAlgorithm> make_library_alltoall();
std::unique_ptr<MpiAlgorithm> make_pairwise_alltoall();
std::unique_ptr<MpiAlgorithm> make_bruck_alltoall();
std::unique_ptr<MpiAlgorithm> make_linear_alltoall();

}  // namespace cctune::mpi
