#pragma once
// Host reduction kernels used by the algorithms written over MPI point-to-point.
#include <cstddef>
#include <cstdint>

#include "collectives/types.hpp"

namespace cctune {

// accumulator[i] = op(accumulator[i], input[i]) for float32, float64 and int32. Half-precision data
// never reaches this function: backends widen it to float32 first so that it is rounded only once.
void reduce_into(void* accumulator, const void* input, std::size_t count, DataType type, ReduceOp op);
// output[i] = op(a[i], b[i]). output may be a itself, but must not otherwise overlap a or b. Lets an
// algorithm combine its own send buffer with incoming data straight into the result, instead of first
// copying the whole send buffer.
void reduce(void* output, const void* a, const void* b, std::size_t count, DataType type, ReduceOp op);

// data[i] /= divisor, one correctly rounded division (the final step of avg), float32 or float64.
void divide_by(void* data, std::size_t count, DataType type, int divisor);

// Half-precision <-> float32 conversion of whole buffers (type is float16 or bfloat16).
void widen_to_float32(const std::uint16_t* input, float* output, std::size_t count, DataType type);
void narrow_from_float32(const float* input, std::uint16_t* output, std::size_t count, DataType type);

}  // namespace cctune
