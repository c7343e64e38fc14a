#pragma once
// nccl-tests' text output, one complete block (prelude, table, footer) per algorithm, in the layout of
// nccl-tests 2.19.6, so that the scripts users already have keep working; our extra columns
// (statistics over iterations of the slowest rank) only with --stats, to the right.
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "bench/report.hpp"

namespace cctune::bench {

class TextWriter final : public Sink {
 public:
  explicit TextWriter(std::FILE* out) : out_(out) {}
  void begin(const RunInfo& info, const BenchOptions& options) override;
  void begin_table(Collective collective, const std::string& algorithm) override;
  void row(const Row& row) override;
  void end_table(const TableTotals& totals) override;
  void end(const TableTotals& totals) override;

 private:
  std::FILE* out_;
  RunInfo info_;
  BenchOptions options_;
  Collective collective_ = Collective::allreduce;
};

// The nccl-tests release whose text and JSON layouts bench writes.
inline constexpr std::string_view kNcclTestsLayout = "2.19.6";

// The per-iteration statistics -I 1 prints (and -J writes): over the slowest rank's time per
// iteration, the first `skip` (-K) left out.
Summary per_iteration_summary(const PlacementResult& placement, int skip);
// nccl-tests' standard deviation (over n, where Summary's is over n - 1).
double population_stdev(const Summary& summary);

// A device backend's "1 [0000:1B:00.0] NVIDIA H200" as nccl-tests prints a device: its ordinal, the
// bus id as "%04x:%02x:%02x" ("0000:1b:00") and its name; nullopt when it is not in that form.
struct DeviceDescription {
  int ordinal = 0;
  std::string bus, name;
};
std::optional<DeviceDescription> parse_device_description(const std::string& text);

// nccl-tests' binary for a collective ("all_reduce_perf").
std::string_view nccl_tests_binary(Collective collective);

// nccl-tests' getFloatStr: VALUE right-aligned in WIDTH with two decimals, or fewer (then an
// exponent) when it would not fit, so that a column never overflows.
std::string float_field(double value, int width);

// Why what was written to `out` did not all arrive (flushed first; the stream's error flag keeps an
// earlier failure), or nothing: a full disk or /dev/full behind stdout must not end a run that lost its
// table with exit 0. `what` names the stream in the message ("standard output").
std::optional<std::string> write_failure(std::FILE* out, std::string_view what);


}  // namespace cctune::bench
