#include "collectives/gpu/pattern_kernels.hpp"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "collectives/data_pattern.hpp"
#include "collectives/gpu/kernel_image.hpp"
#include "collectives/gpu/runtime.hpp"

namespace cctune::gpu {
namespace {

constexpr int kThreads = 256;

struct Generator {
  std::uint64_t seed;
  std::int64_t bound;
  DataType type;
  ReduceOp op;
  int nranks;
  int rank;
  std::size_t count;
  Collective collective;
};

// The element as stored bits (zero-extended), so that comparisons are exact whatever the type.
__device__ std::uint64_t bits_of(DataType type, double value) {
  switch (type) {
    case DataType::float32: return __float_as_uint(static_cast<float>(value));
    case DataType::float64: return static_cast<std::uint64_t>(__double_as_longlong(value));
    case DataType::int32: return static_cast<std::uint32_t>(static_cast<std::int32_t>(value));
    case DataType::float16: return __half_as_ushort(__float2half_rn(static_cast<float>(value)));
    case DataType::bfloat16: return __bfloat16_as_ushort(__float2bfloat16_rn(static_cast<float>(value)));
  }
  return 0;
}

__device__ std::uint64_t load_bits(DataType type, const void* buffer, std::size_t i) {
  switch (type) {
    case DataType::float64: return static_cast<const std::uint64_t*>(buffer)[i];
    case DataType::float16:
    case DataType::bfloat16: return static_cast<const std::uint16_t*>(buffer)[i];
    default: return static_cast<const std::uint32_t*>(buffer)[i];
  }
}

__device__ void store_bits(DataType type, void* buffer, std::size_t i, std::uint64_t bits) {
  switch (type) {
    case DataType::float64: static_cast<std::uint64_t*>(buffer)[i] = bits; return;
    case DataType::float16:
    case DataType::bfloat16: static_cast<std::uint16_t*>(buffer)[i] = static_cast<std::uint16_t>(bits); return;
    default: static_cast<std::uint32_t*>(buffer)[i] = static_cast<std::uint32_t>(bits); return;
  }
}

__device__ double input_value(const Generator& g, int rank, std::uint64_t index) {
  return static_cast<double>(pattern::value(g.seed, g.bound, rank, index));
}

// Element i of the output as bench/patterns.cpp computes it on the host: the exact integer result,
// and for avg one division rounded in the accumulation type (float64, else float32).
__device__ double expected_value(const Generator& g, std::size_t i) {
  if (g.collective == Collective::alltoall) {
    const std::size_t source = i / g.count, offset = i % g.count;
    return input_value(g, static_cast<int>(source), static_cast<std::uint64_t>(g.rank) * g.count + offset);
  }
  std::int64_t acc = pattern::value(g.seed, g.bound, 0, i);
  for (int r = 1; r < g.nranks; ++r) {
    const std::int64_t v = pattern::value(g.seed, g.bound, r, i);
    switch (g.op) {
      case ReduceOp::sum:
      case ReduceOp::avg: acc += v; break;
      case ReduceOp::max: acc = v > acc ? v : acc; break;
      case ReduceOp::min: acc = v < acc ? v : acc; break;
    }
  }
  const double exact = static_cast<double>(acc);
  if (g.op != ReduceOp::avg) return exact;
  if (g.type == DataType::float64) return exact / g.nranks;
  return static_cast<double>(static_cast<float>(exact) / static_cast<float>(g.nranks));
}

__global__ void fill_kernel(Generator g, void* buffer, std::size_t elements) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < elements;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    store_bits(g.type, buffer, i, bits_of(g.type, input_value(g, g.rank, i)));
  }
}

__global__ void check_kernel(Generator g, const void* buffer, std::size_t elements, unsigned long long* wrong) {
  unsigned long long mine = 0;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < elements;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    mine += load_bits(g.type, buffer, i) != bits_of(g.type, expected_value(g, i));
  }
  __shared__ unsigned long long block_total;
  if (threadIdx.x == 0) block_total = 0;
  __syncthreads();
  if (mine) atomicAdd(&block_total, mine);
  __syncthreads();
  if (threadIdx.x == 0 && block_total) atomicAdd(wrong, block_total);
}

Generator generator_for(const PatternRequest& r) {
  return {r.seed, pattern::bound(r.type, r.nranks), r.type, r.op, r.nranks, r.rank, r.count, r.collective};
}

// Elements the buffer holds: the vector for allreduce, one block per peer for alltoall.
std::size_t elements_of(const PatternRequest& r) {
  return r.collective == Collective::alltoall ? r.count * static_cast<std::size_t>(r.nranks) : r.count;
}

// The nccl backend runs no kernel of ours but these, so they are built for every GPU this nvcc knows
// (PTX for the oldest, collectives/gpu/CMakeLists.txt); an older GPU is refused here with one line.
void require_image(const void* kernel) {
  require_kernel_image(kernel, "data fill and check kernels", CCTUNE_PATTERN_CUDA_ARCHITECTURES);
}

unsigned grid_for(std::size_t elements) {
  const std::size_t blocks = (elements + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 4096 ? (blocks ? blocks : 1) : 4096);
}

}  // namespace

void fill_input_on_device(void* buffer, const PatternRequest& request) {
  const std::size_t elements = elements_of(request);
  if (elements == 0) return;
  require_image(reinterpret_cast<const void*>(&fill_kernel));
  fill_kernel<<<grid_for(elements), kThreads>>>(generator_for(request), buffer, elements);
  CCTUNE_CUDA(cudaGetLastError());
  CCTUNE_CUDA(cudaDeviceSynchronize());
}

std::uint64_t count_wrong_on_device(const void* buffer, const PatternRequest& request) {
  const std::size_t elements = elements_of(request);
  if (elements == 0) return 0;
  require_image(reinterpret_cast<const void*>(&check_kernel));
  DeviceMemory counter(sizeof(unsigned long long));
  CCTUNE_CUDA(cudaMemset(counter.get(), 0, sizeof(unsigned long long)));
  check_kernel<<<grid_for(elements), kThreads>>>(generator_for(request), buffer, elements,
                                                  static_cast<unsigned long long*>(counter.get()));
  CCTUNE_CUDA(cudaGetLastError());
  unsigned long long wrong = 0;
  CCTUNE_CUDA(cudaMemcpy(&wrong, counter.get(), sizeof wrong, cudaMemcpyDeviceToHost));
  return wrong;
}

}  // namespace cctune::gpu
