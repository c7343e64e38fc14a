#pragma once
// nccl-tests' table, one per algorithm, so that the scripts users already have keep working; our
// extra columns (statistics over iterations of the slowest rank) only to the right.
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
  std::string backend_;
  int nranks_ = 1;
};

// Why what was written to `out` did not all arrive (flushed first; the stream's error flag keeps an
// earlier failure), or nothing: a full disk or /dev/full behind stdout must not end a run that lost its
// table with exit 0. `what` names the stream in the message ("standard output").
std::optional<std::string> write_failure(std::FILE* out, std::string_view what);

// nccl-tests prints times with fewer decimals as they grow; so do we.
std::string format_time_us(double microseconds);

}  // namespace cctune::bench
