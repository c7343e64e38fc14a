#pragma once
// From the run-time element type to the kernel instantiated for it.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "collectives/error.hpp"
#include "collectives/types.hpp"

namespace cctune::cuda {

// Calls visit(T{}) with T the C++ type of `type` for the types our kernels reduce.
template <typename Visit>
decltype(auto) with_reduce_type(DataType type, Visit&& visit) {
  switch (type) {
    case DataType::float32: return visit(float{});
    case DataType::float16: return visit(__half{});
    case DataType::bfloat16: return visit(__nv_bfloat16{});
    default: break;
  }
  CCTUNE_USAGE_ERROR("the cuda backend reduces float, half and bfloat16, not " + std::string(to_string(type)));
}

}  // namespace cctune::cuda
