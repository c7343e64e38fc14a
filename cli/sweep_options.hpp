#pragma once
// The sizes and collectives `tune` and `verify` sweep, spelled as `bench` spells them.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "bench/options.hpp"

namespace cctune::cli {

struct SweepOptions {
  std::vector<std::string> collectives{"all"};
  std::string min_bytes = "8", max_bytes = "64M";
  std::string factor = "2";  // as typed: bench::parse_integer range-checks it (CLI11 would wrap "-2")

  void add_to(CLI::App* app) {
    app->add_option("--collective", collectives, "allreduce, alltoall, or all")->delimiter(',')->capture_default_str();
    app->add_option("-b,--minbytes", min_bytes, "Smallest size (K, M, G suffixes)")->capture_default_str();
    app->add_option("-e,--maxbytes", max_bytes, "Largest size")->capture_default_str();
    app->add_option("-f,--stepfactor", factor, "Size factor between steps")->capture_default_str();
  }

  // Throws UsageError for a factor out of range.
  bench::RawBenchOptions raw() const {
    bench::RawBenchOptions raw;
    raw.collectives = collectives;
    raw.min_bytes = min_bytes;
    raw.max_bytes = max_bytes;
    raw.factor = static_cast<std::uint64_t>(bench::parse_integer("-f", factor, 2, bench::kMaxStepFactor));
    return raw;
  }
};

}  // namespace cctune::cli
