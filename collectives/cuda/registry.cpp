// The one explicit list of our CUDA kernels. Add a line here to add an algorithm.
#include <string>
#include <vector>

#include "collectives/cuda/algorithm.hpp"
#include "collectives/error.hpp"

namespace cctune::cuda {
namespace {

std::vector<std::unique_ptr<CudaAlgorithm>> build_registry() {
  std::vector<std::unique_ptr<CudaAlgorithm>> algorithms;
  algorithms.push_back(make_one_shot_allreduce());
  algorithms.push_back(make_two_shot_allreduce());
  algorithms.push_back(make_direct_write_alltoall());
  return algorithms;
}

}  // namespace

std::span<const std::unique_ptr<CudaAlgorithm>> registry() {
  static const auto algorithms = build_registry();
  return algorithms;
}

std::span<const AlgorithmInfo> registry_infos() {
  static const auto infos = infos_of(registry());
  return infos;
}

std::vector<const void*> registry_kernels() {
  std::vector<const void*> kernels;
  for (const auto& algorithm : registry()) {
    for (const void* kernel : algorithm->kernels()) kernels.push_back(kernel);
  }
  return kernels;
}

const CudaAlgorithm& find_algorithm(Collective collective, std::string_view name) {
  std::string known;
  for (const auto& algorithm : registry()) {
    if (algorithm->info().collective != collective) continue;
    if (algorithm->info().name == name) return *algorithm;
    known += (known.empty() ? "" : ", ") + std::string(algorithm->info().name);
  }
  CCTUNE_USAGE_ERROR("unknown " + std::string(to_string(collective)) + " algorithm '" + std::string(name) +
                     "' for backend cuda (" + known + ")");
}

}  // namespace cctune::cuda
