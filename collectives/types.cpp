#include "collectives/types.hpp"

#include <array>
#include <bit>
#include <cmath>

#include "collectives/error.hpp"

namespace cctune {
namespace {

constexpr std::array kCollectives{Collective::allreduce, Collective::alltoall};
constexpr std::array kDataTypes{DataType::float32, DataType::float64, DataType::int32,
                                DataType::float16, DataType::bfloat16};
constexpr std::array kReduceOps{ReduceOp::sum, ReduceOp::max, ReduceOp::min, ReduceOp::avg};

}  // namespace

std::string_view to_string(Collective c) {
  switch (c) {
    case Collective::allreduce: return "allreduce";
    case Collective::alltoall: return "alltoall";
  }
  return "?";
}

std::string_view to_string(DataType t) {
  switch (t) {
    case DataType::float32: return "float";
    case DataType::float64: return "double";
    case DataType::int32: return "int32";
    case DataType::float16: return "half";
    case DataType::bfloat16: return "bfloat16";
  }
  return "?";
}

std::string_view to_string(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::max: return "max";
    case ReduceOp::min: return "min";
    case ReduceOp::avg: return "avg";
  }
  return "?";
}

Collective parse_collective(std::string_view name) {
  if (name == "allreduce" || name == "all_reduce") return Collective::allreduce;
  if (name == "alltoall" || name == "all_to_all" || name == "alltoall_perf") return Collective::alltoall;
  CCTUNE_USAGE_ERROR("unknown collective '" + std::string(name) + "' (choose allreduce or alltoall)");
}

DataType parse_datatype(std::string_view name) {
  if (name == "float" || name == "float32" || name == "f32") return DataType::float32;
  if (name == "double" || name == "float64" || name == "f64") return DataType::float64;
  if (name == "int32" || name == "int" || name == "i32") return DataType::int32;
  if (name == "half" || name == "float16" || name == "f16" || name == "fp16") return DataType::float16;
  if (name == "bfloat16" || name == "bf16") return DataType::bfloat16;
  CCTUNE_USAGE_ERROR("unknown dtype '" + std::string(name) +
                     "' (choose float, double, int32, half, bfloat16)");
}

ReduceOp parse_reduce_op(std::string_view name) {
  if (name == "sum") return ReduceOp::sum;
  if (name == "max") return ReduceOp::max;
  if (name == "min") return ReduceOp::min;
  if (name == "avg") return ReduceOp::avg;
  CCTUNE_USAGE_ERROR("unknown reduction op '" + std::string(name) + "' (choose sum, max, min, avg)");
}

std::span<const Collective> all_collectives() { return kCollectives; }
std::span<const DataType> all_datatypes() { return kDataTypes; }
std::span<const ReduceOp> all_reduce_ops() { return kReduceOps; }

std::size_t size_of(DataType t) {
  switch (t) {
    case DataType::float32: return 4;
    case DataType::float64: return 8;
    case DataType::int32: return 4;
    case DataType::float16: return 2;
    case DataType::bfloat16: return 2;
  }
  return 0;
}

bool is_half_precision(DataType t) { return t == DataType::float16 || t == DataType::bfloat16; }

bool is_floating(DataType t) { return t != DataType::int32; }

void check_supported(DataType t, ReduceOp op) {
  if (op == ReduceOp::avg && !is_floating(t)) {
    CCTUNE_USAGE_ERROR("op avg is not supported for " + std::string(to_string(t)) +
                       " (integer division would truncate); use sum, max or min");
  }
}

float half_to_float(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  std::uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) {  // infinity or NaN: keep the payload
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  }
  if (exponent == 0) {
    if (mantissa == 0) return std::bit_cast<float>(sign);
    // Subnormal half: its value is mantissa * 2^-24, exactly representable as a normal float.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

std::uint16_t float_to_half(float value) {
  const std::uint32_t f = std::bit_cast<std::uint32_t>(value);
  const std::uint16_t sign = static_cast<std::uint16_t>((f >> 16) & 0x8000u);
  const std::uint32_t abs = f & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
  if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to infinity
  if (abs < 0x38800000u) {
    // Result is subnormal or zero: scale so that the integer part is the half mantissa, then let the
    // float unit round to nearest even.
    const float scaled = std::bit_cast<float>(abs) * 16777216.0f;  // 2^24
    return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(std::nearbyint(scaled)));
  }
  const std::uint32_t rounding = 0xfffu + ((abs >> 13) & 1u);
  const std::uint32_t rebased = abs - (112u << 23) + rounding;
  return static_cast<std::uint16_t>(sign | (rebased >> 13));
}

float bfloat16_to_float(std::uint16_t bits) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

std::uint16_t float_to_bfloat16(float value) {
  const std::uint32_t f = std::bit_cast<std::uint32_t>(value);
  if ((f & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((f >> 16) | 0x40u);  // quiet NaN
  const std::uint32_t rounding = 0x7fffu + ((f >> 16) & 1u);
  return static_cast<std::uint16_t>((f + rounding) >> 16);
}

std::optional<double> percent_of_bound(double busbw_gbs, double bound_gbs) {
  if (!(bound_gbs > 0) || !std::isfinite(busbw_gbs)) return std::nullopt;
  return 100.0 * busbw_gbs / bound_gbs;
}

double bus_bandwidth_factor(Collective c, int nranks) {
  const double n = nranks;
  switch (c) {
    case Collective::allreduce: return 2.0 * (n - 1.0) / n;
    case Collective::alltoall: return (n - 1.0) / n;
  }
  return 1.0;
}

}  // namespace cctune
