#include "bench/size_plan.hpp"

#include <cctype>
#include <fmt/format.h>
#include <limits>
#include <string>

#include "collectives/error.hpp"

namespace cctune::bench {

std::uint64_t parse_size(std::string_view text) {
  const std::string original(text);
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) CCTUNE_USAGE_ERROR("size '" + original + "' is not a number (examples: 8, 64K, 16M, 1G)");
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    const auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
      CCTUNE_USAGE_ERROR("size '" + original + "' overflows 64 bits");
    }
    value = value * 10 + digit;
  }
  std::string suffix;
  for (char c : text.substr(digits)) suffix += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (suffix.ends_with("IB")) suffix.resize(suffix.size() - 2);
  else if (suffix.size() > 1 && suffix.ends_with("B")) suffix.pop_back();
  if (suffix == "B") suffix.clear();
  int shift = 0;
  if (suffix.empty()) shift = 0;
  else if (suffix == "K") shift = 10;
  else if (suffix == "M") shift = 20;
  else if (suffix == "G") shift = 30;
  else if (suffix == "T") shift = 40;
  else CCTUNE_USAGE_ERROR("size '" + original + "' has an unknown suffix (use K, M, G or T)");
  if (shift && value > (std::numeric_limits<std::uint64_t>::max() >> shift)) {
    CCTUNE_USAGE_ERROR("size '" + original + "' overflows 64 bits");
  }
  return value << shift;
}

std::string format_size(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  auto value = static_cast<double>(bytes);
  while (value >= 1024.0 && unit < 6) {
    value /= 1024.0;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.{}f} {}", value, value == static_cast<double>(static_cast<std::uint64_t>(value)) ? 0 : 2,
                     kUnits[unit]);
}

std::vector<std::uint64_t> make_size_plan(const SizeRange& range) {
  if (range.min_bytes > range.max_bytes) {
    CCTUNE_USAGE_ERROR(fmt::format("minimum size {} (-b) is larger than maximum size {} (-e)", range.min_bytes,
                                   range.max_bytes));
  }
  if (range.step == 0 && range.factor < 2) {
    CCTUNE_USAGE_ERROR(fmt::format("-f {} would never grow the size; use -f 2 or more, or -i STEP",
                                   range.factor));
  }
  if (range.step == 0 && range.min_bytes == 0) {
    CCTUNE_USAGE_ERROR("-b 0 with a factor would never grow; start at 1 byte or more, or use -i STEP");
  }
  std::vector<std::uint64_t> plan;
  std::uint64_t size = range.min_bytes;
  while (true) {
    plan.push_back(size);
    std::uint64_t next;
    if (range.step != 0) {
      if (__builtin_add_overflow(size, range.step, &next)) break;
    } else {
      if (__builtin_mul_overflow(size, range.factor, &next)) break;
    }
    if (next > range.max_bytes) break;
    size = next;
  }
  return plan;
}

MessageShape shape_of(std::uint64_t requested_bytes, Collective collective, DataType type, int nranks) {
  const std::uint64_t element = size_of(type);
  std::uint64_t count = requested_bytes / element;
  std::uint64_t per_call = count;
  if (collective == Collective::alltoall) {
    // nccl-tests (since 2.13.12) aligns each peer's block to 16 bytes.
    const std::uint64_t align = element < 16 ? 16 / element : 1;
    per_call = count / static_cast<std::uint64_t>(nranks) & ~(align - 1);
    count = per_call * static_cast<std::uint64_t>(nranks);
  }
  return {requested_bytes, count * element, count, per_call};
}

void check_plan_fits(const std::vector<std::uint64_t>& plan, DataType type) {
  const std::uint64_t element = size_of(type);
  for (std::uint64_t bytes : plan) {
    if (bytes < element) {
      CCTUNE_USAGE_ERROR(fmt::format("size {} B is smaller than one {} element ({} B); raise -b", bytes,
                                     to_string(type), element));
    }
    if (bytes / element > kMaxElementCount) {
      CCTUNE_USAGE_ERROR(fmt::format("size {} is {} {} elements, more than the {} an MPI count can hold; lower -e",
                                     format_size(bytes), bytes / element, to_string(type), kMaxElementCount));
    }
  }
}

}  // namespace cctune::bench
