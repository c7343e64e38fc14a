#pragma once
// One factory per algorithm file; registry.cpp lists them. Nothing registers itself.
#include <memory>

#include "collectives/mpi/algorithm.hpp"

namespace cctune::mpi {

std::unique_ptr<MpiAlgorithm> make_library_allreduce();
std::unique_ptr<MpiAlgorithm> make_ring_allreduce();
std::unique_ptr<MpiAlgorithm> make_recursive_doubling_allreduce();
std::unique_ptr<MpiAlgorithm> make_rabenseifner_allreduce();
std::unique_ptr<MpiAlgorithm> make_shm_direct_allreduce();
std::unique_ptr<MpiAlgorithm> make_shm_split_allreduce();

std::unique_ptr<MpiAlgorithm> make_library_alltoall();
std::unique_ptr<MpiAlgorithm> make_pairwise_alltoall();
std::unique_ptr<MpiAlgorithm> make_bruck_alltoall();
std::unique_ptr<MpiAlgorithm> make_linear_alltoall();
std::unique_ptr<MpiAlgorithm> make_shm_alltoall();

// Open MPI's coll/tuned algorithm `number`, forced through MPI_T ("ompi:N").
std::unique_ptr<MpiAlgorithm> make_forced_library_allreduce(int number);  // 1..6
std::unique_ptr<MpiAlgorithm> make_forced_library_alltoall(int number);   // 1..4 (5, two_proc, needs 2 ranks)

}  // namespace cctune::mpi
