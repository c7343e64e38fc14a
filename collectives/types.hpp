#pragma once
// The vocabulary every backend speaks: which collective, on what element type, with which reduction.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace cctune {

enum class Collective { allreduce, alltoall };
enum class DataType { float32, float64, int32, float16, bfloat16 };
// avg is a sum followed by one division by the rank count (as ncclAvg), defined for floating types.
enum class ReduceOp { sum, max, min, avg };

std::string_view to_string(Collective c);
std::string_view to_string(DataType t);
std::string_view to_string(ReduceOp op);

// Accept the names users type, including nccl-tests' spellings (float, double, half, bfloat16, int).
Collective parse_collective(std::string_view name);
DataType parse_datatype(std::string_view name);
ReduceOp parse_reduce_op(std::string_view name);

std::span<const Collective> all_collectives();
std::span<const DataType> all_datatypes();
std::span<const ReduceOp> all_reduce_ops();

std::size_t size_of(DataType t);
bool is_half_precision(DataType t);
bool is_floating(DataType t);
// Throws UsageError for a pair no backend defines (avg on integers, which would truncate).
void check_supported(DataType t, ReduceOp op);

// Half-precision values are stored as raw bits; conversions round to nearest, ties to even.
float half_to_float(std::uint16_t bits);
std::uint16_t float_to_half(float value);
float bfloat16_to_float(std::uint16_t bits);
std::uint16_t float_to_bfloat16(float value);

// nccl-tests' bus-bandwidth factor: what each rank must move relative to the algorithm bandwidth.
double bus_bandwidth_factor(Collective c, int nranks);

// A bus bandwidth as a percentage of its bound (the speed of light: topology/speed_of_light.hpp);
// nullopt when the bound is unknown (0) or the bandwidth is not a number. bench, plan and accept grade
// with it.
std::optional<double> percent_of_bound(double busbw_gbs, double bound_gbs);

}  // namespace cctune
